#!/bin/sh
# kafka-run-class.sh CLASS [ARGS...]: a Kafka class on the JVM with the jars in /opt/kafka/libs,
# honouring upstream's variables: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS,
# KAFKA_OPTS. The tools (anything but the broker) default to a small, quick-starting JVM: the
# healthcheck runs one every few seconds.
# shellcheck disable=SC2086  # the *_OPTS are lists of flags
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.xml} \
  ${KAFKA_OPTS:-} -cp "/opt/kafka/libs/*" "$@"
