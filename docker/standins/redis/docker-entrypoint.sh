#!/bin/sh
# As the official image's entrypoint: flags alone mean redis-server with those flags; protected
# mode is off by default (the official image compiles it so), and later arguments may turn it on.
set -e
case "$1" in -*) set -- redis-server "$@" ;; esac
if [ "$1" = "redis-server" ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
