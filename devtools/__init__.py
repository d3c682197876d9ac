"""Developer tools: shop's deployment shapes as local processes on this machine.

Tools, not tests. The test suites, `make split`, `scripts/split-local` and the benchmarks use
them alike; the application never imports them (an import-linter contract says so).

Where to look:
  services.py   the local Postgres, Kafka, Redis and nginx a topology needs: where they are
                (SHOP_PG_ADMIN_URL, KAFKA_BOOTSTRAP_SERVERS, SHOP_TEST_REDIS_URL) and whether
                they answer
  postgres.py   database URLs, CREATE/DROP DATABASE, migrated template databases to clone
  processes.py  a started process (Proc), pid files that outlive the starting shell, waiting
  http.py       a small JSON-over-HTTP client (Api), free ports, waiting for a listener
  cluster.py    LocalCluster: shape 2 (or any set of services) as processes — web (gunicorn),
                relay_outbox, consume_events, Celery — on fresh databases and a private Kafka
                namespace
  gateway.py    the nginx gateway: docker/gateway/nginx.conf.template rendered, started,
                re-routed and reloaded without a restart
  split.py      SplitTopology: shape 3, every service in processes of its own behind the
                gateway; `python -m devtools.split start|stop|status|drop` is
                `make split` (scripts/split-local)
  tracing.py    TraceBackend: Zipkin (Maven Central) behind an OpenTelemetry Collector built
                from otelcol/ (Go module proxy): `python -m devtools.tracing build` is
                `make trace-backend`; started by split.py, read back through Zipkin's API
  compose.py    ComposeTopology: shape 3 in containers (docker/compose.yaml via
                scripts/compose-local), with the same component names and looking-inside
                methods as SplitTopology, so the same tests drive either
  saga.py       the saga from outside: placing orders, the invariants every run ends with
  instances.py  a Postgres server, a Redis and a Kafka broker of their own (free ports, own
                directories), which a drill may stop, kill or freeze
  drills.py     fault drills: the split topology on those, under load, while one of them
                fails; what it cost (`python -m devtools.drills`)
"""
