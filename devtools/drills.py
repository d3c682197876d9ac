"""Fault drills: the split topology (devtools/split.py) under a steady load of customers through
the gateway while one piece of infrastructure fails — PostgreSQL stopped and started again,
Redis SIGKILLed, the broker SIGKILLed or frozen, a web replica SIGKILLed — and what it cost:
client requests that failed (by status), how long after the fault ended the API answered
again, and how long until every order caught in the fault was final.

Nothing is restarted by hand: the topology's processes must ride the fault out. A drill checks
that every process still runs with the pid it had before (the web replica a drill kills is
started again by the drill, as its supervisor — compose, Kubernetes — would).

The services a drill breaks are its own (devtools/instances.py: a Postgres server, a Redis and a
Kafka broker on free ports), never the shared ones.

    python -m devtools.drills                       # every drill, in sequence, on one topology
    python -m devtools.drills postgres broker-freeze --rate 4

tests/split/test_infrastructure_faults.py runs the same drills and checks the saga's
invariants after each (devtools/saga.py).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools.http import Api, free_port, http_status
from devtools.instances import KafkaBroker, PostgresServer, RedisServer
from devtools.saga import Shop, assert_saga_invariants
from devtools.split import SplitTopology

PASSWORD = "a-long-passphrase-9"
UNANSWERED = 0  # the status recorded for a request that got no HTTP answer at all


# --- load -----------------------------------------------------------------------------------------


@dataclass
class Request:
    kind: str  # "place" (POST /api/orders/) or "read" (GET /api/orders/, the read side)
    sent: float  # time.monotonic()
    done: float
    status: int  # UNANSWERED if no HTTP answer came back
    order_id: int | None = None
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


class OrderLoad:
    """Customers placing orders at a steady rate (open loop: one every 1/rate seconds, whatever
    the answers), each followed by a look at the customer's recent orders (the read side), until
    stopped. Every request is recorded with its status; each has a timeout, so the load stays
    bounded. (The list, not the new order itself: an order reaches the read side a moment after
    it is placed, and a 404 for that would count eventual consistency as a failure.)"""

    def __init__(
        self,
        customers: list[Api],
        products: list[int],
        *,
        rate: float = 4.0,
        threads: int = 8,
        timeout: float = 10.0,
        seed: int = 0,
    ):
        self.customers = customers
        self.products = products
        self.rate = rate
        self.timeout = timeout
        self.requests: list[Request] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._ticker: threading.Thread | None = None

    def start(self) -> OrderLoad:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="load")
        self._ticker = threading.Thread(target=self._tick, name="load-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def accepted(self, *, answered_before: float | None = None) -> list[int]:
        """Ids of the orders placed (201), optionally only those answered before a moment."""
        with self._lock:
            return [
                r.order_id
                for r in self.requests
                if r.kind == "place"
                and r.order_id is not None
                and (answered_before is None or r.done < answered_before)
            ]

    def between(self, start: float, end: float) -> list[Request]:
        """Requests sent in [start, end)."""
        with self._lock:
            return [r for r in self.requests if start <= r.sent < end]

    def _tick(self) -> None:
        assert self._pool is not None
        started = time.monotonic()
        n = 0
        while not self._stop.is_set():
            customer = self._rng.randrange(len(self.customers))
            lines = self._rng.sample(self.products, k=self._rng.randint(1, 3))
            body = {
                "lines": [{"product_id": p, "quantity": self._rng.randint(1, 3)} for p in lines],
                "shipping_address": "4 Elm Row, Edinburgh",
            }
            self._pool.submit(self._place, customer, body)
            n += 1
            self._stop.wait(max(0.0, started + n / self.rate - time.monotonic()))

    def _place(self, customer: int, body: dict) -> None:
        api = self.customers[customer]
        placed = self._send("place", api, "POST", "/api/orders/", body)
        if placed.status == 201 and isinstance(placed.body, dict):
            placed.order_id = placed.body["id"]
        self._send("read", api, "GET", "/api/orders/?page_size=5")

    def _send(self, kind: str, api: Api, method: str, path: str, body: object = None) -> Request:
        sent = time.monotonic()
        try:
            status, headers, payload = api.request_with_headers(method, path, body, timeout=self.timeout)
        except OSError as exc:  # refused, reset, timed out: no HTTP answer
            status, headers, payload = UNANSWERED, {}, repr(exc)
        request = Request(kind, sent, time.monotonic(), status, body=payload, headers=headers)
        with self._lock:
            self.requests.append(request)
        return request


# --- faults ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One thing going wrong for `hold` seconds: `inject` breaks it, `heal` ends it."""

    name: str
    description: str
    inject: Callable[[], None]
    heal: Callable[[], None]
    hold: float
    # Processes the fault itself kills (the drill starts them again as a supervisor would).
    replaced: tuple[str, ...] = ()


def postgres_outage(server: PostgresServer, seconds: float = 15) -> Fault:
    return Fault(
        "postgres",
        f"PostgreSQL (every database) stopped for {seconds:.0f} s, then started again",
        lambda: server.stop("fast"),
        server.start,
        seconds,
    )


def redis_kill(server: RedisServer, seconds: float = 10) -> Fault:
    return Fault(
        "redis", f"Redis SIGKILLed, started again {seconds:.0f} s later", server.kill, server.start, seconds
    )


def broker_kill(broker: KafkaBroker, seconds: float = 30) -> Fault:
    return Fault(
        "broker-kill",
        f"the Kafka broker SIGKILLed, started again {seconds:.0f} s later",
        broker.kill,
        broker.start,
        seconds,
    )


def broker_freeze(broker: KafkaBroker, seconds: float = 40) -> Fault:
    return Fault(
        "broker-freeze",
        f"the Kafka broker SIGSTOPped for {seconds:.0f} s, then SIGCONTed",
        broker.freeze,
        broker.thaw,
        seconds,
    )


def web_replica_kill(topology: SplitTopology, name: str = "orders-web-1", seconds: float = 15) -> Fault:
    return Fault(
        "web-kill",
        f"{name} SIGKILLed (its peer serves on); its supervisor starts it again {seconds:.0f} s later",
        lambda: topology.kill(name),
        lambda: topology.start_component(name),
        seconds,
        replaced=(name,),
    )


# --- a drill --------------------------------------------------------------------------------------


@dataclass
class Report:
    fault: Fault
    fault_at: float  # time.monotonic() when the fault was being injected...
    struck_at: float  # ...when it had struck (the process dead, the server down)...
    back_at: float  # ...and when it ended
    requests: list[Request]  # sent from the start of the load until its end
    readiness: dict[str, int | None]  # /readyz of every web replica, half-way through the fault
    api_back_after: float | None  # first request sent after the fault ended that succeeded
    caught: int  # orders accepted before the fault ended and not final by then
    final_after: float | None  # seconds from the fault's end until all of them were final
    baseline: float | None  # median seconds from placing to DELIVERED, before the fault
    restarted: list[str]  # processes that died or were replaced without the drill asking
    seconds: float  # the drill's own duration

    @property
    def failed(self) -> Counter:
        """Requests without a successful answer, by status (0: no HTTP answer at all)."""
        return Counter(r.status for r in self.requests if not 200 <= r.status < 300)

    def summary(self) -> str:
        statuses = Counter(r.status for r in self.requests)
        failed = self.failed
        lines = [
            f"drill {self.fault.name}: {self.fault.description}",
            f"  requests        {len(self.requests)}: "
            + ", ".join(f"{s or 'no answer'} x{n}" for s, n in sorted(statuses.items())),
            f"  failed          {sum(failed.values())}"
            + (
                ": " + ", ".join(f"{s or 'no answer'} x{n}" for s, n in sorted(failed.items()))
                if failed
                else ""
            ),
            "  ready during    "
            + ", ".join(f"{name} {status}" for name, status in sorted(self.readiness.items())),
            f"  api answered    {_seconds(self.api_back_after)} after the fault ended",
            f"  orders caught   {self.caught}, all final {_seconds(self.final_after)} after the fault ended"
            f" (an order takes {_seconds(self.baseline)} end to end without a fault)",
            f"  restarted       {', '.join(self.restarted) or 'nothing'} by hand",
            f"  drill took      {self.seconds:.0f} s",
        ]
        return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def run_drill(
    topology: SplitTopology,
    shop: Shop,
    load: OrderLoad,
    fault: Fault,
    *,
    before: float = 5,
    after: float = 10,
    settle_timeout: float = 180,
) -> Report:
    """Load; after `before` seconds the fault, for its hold; load for `after` seconds more; then
    wait (up to `settle_timeout`) until every order accepted is final. Measures as it goes."""
    started = time.monotonic()
    shop.wait_all_final(load.accepted(), timeout=settle_timeout)  # a drill starts at rest
    pids = {name: proc.popen.pid for name, proc in topology.cluster.procs.items()}
    load.start()
    time.sleep(before)
    fault_at = time.monotonic()
    fault.inject()
    struck_at = time.monotonic()
    time.sleep(fault.hold / 2)
    readiness = {
        f"{service}:{port}": http_status(f"http://127.0.0.1:{port}/readyz", timeout=6)
        for service, ports in topology.web_ports.items()
        for port in ports
    }
    time.sleep(max(0.0, fault_at + fault.hold - time.monotonic()))
    fault.heal()
    back_at = time.monotonic()

    caught = shop.unfinished(load.accepted(answered_before=back_at))
    final_at: float | None = None
    with _watch(lambda: not shop.unfinished(caught)) as finished:
        time.sleep(after)
        load.stop()
        shop.wait_all_final(load.accepted(), timeout=settle_timeout)
        final_at = finished.wait_result(settle_timeout)
    requests = load.between(started, time.monotonic())
    recovered = [r for r in requests if r.sent >= back_at and 200 <= r.status < 300]
    restarted = [
        name
        for name, pid in pids.items()
        if name not in fault.replaced and not _same_process(topology, name, pid)
    ]
    return Report(
        fault=fault,
        fault_at=fault_at,
        struck_at=struck_at,
        back_at=back_at,
        requests=requests,
        readiness=readiness,
        api_back_after=min(r.done for r in recovered) - back_at if recovered else None,
        caught=len(caught),
        final_after=None if final_at is None else max(0.0, final_at - back_at),
        baseline=_baseline(shop, load.accepted(answered_before=fault_at)),
        restarted=restarted,
        seconds=time.monotonic() - started,
    )


def _same_process(topology: SplitTopology, name: str, pid: int) -> bool:
    proc = topology.cluster.procs.get(name)
    return proc is not None and proc.popen.pid == pid and proc.alive()


class _Watch:
    def __init__(self):
        self.at: float | None = None
        self.done = threading.Event()

    def wait_result(self, timeout: float) -> float | None:
        self.done.wait(timeout)
        return self.at


@contextlib.contextmanager
def _watch(condition: Callable[[], bool], interval: float = 0.25) -> Iterator[_Watch]:
    """Poll `condition` in a thread; record the first moment it held. Errors (a database that
    is down) count as not yet."""
    watch = _Watch()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                if condition():
                    watch.at = time.monotonic()
                    watch.done.set()
                    return
            stop.wait(interval)

    thread = threading.Thread(target=poll, name="drill-watch", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()


def _baseline(shop: Shop, order_ids: list[int]) -> float | None:
    """Median seconds from placed to DELIVERED of these orders (updated_at is the last change)."""
    if not order_ids:
        return None
    rows = shop.cluster.sql(
        "orders",
        "SELECT extract(epoch FROM updated_at - created_at) FROM orders_order"
        " WHERE id = ANY(%s) AND status = 'DELIVERED'",
        (order_ids,),
    )
    return statistics.median(float(s) for (s,) in rows) if rows else None


# --- the stage: own services, the split topology, customers ---------------------------------------


@dataclass
class Stage:
    """Its own Postgres, Redis and Kafka, the split topology on them, customers and a catalog
    with plenty of stock: what the drills run on."""

    postgres: PostgresServer
    redis: RedisServer
    broker: KafkaBroker
    topology: SplitTopology
    shop: Shop

    def faults(self) -> dict[str, Fault]:
        """Every drill's fault, by name, with the durations the issue describes."""
        return {
            fault.name: fault
            for fault in (
                postgres_outage(self.postgres),
                redis_kill(self.redis),
                broker_kill(self.broker),
                broker_freeze(self.broker),
                web_replica_kill(self.topology),
            )
        }

    def load(self, *, rate: float = 4.0, seed: int = 0) -> OrderLoad:
        return OrderLoad(self.shop.customers, list(self.shop.initial_stock), rate=rate, seed=seed)


# Each piece as the split runs it, with the drills' timing: steps a few seconds apart (so that some
# always wait in the worker's memory), the re-drive sweep every few seconds.
DRILL_SETTINGS = {
    "DELIVERY_STEP_SECONDS": "2",
    "DELIVERY_STALLED_AFTER_SECONDS": "5",
    "JWT_ACCESS_MINUTES": "120",
}


@contextlib.contextmanager
def stage(run_dir: Path, *, settings: dict[str, str] | None = None) -> Iterator[Stage]:
    """Start everything a drill needs (about a minute or two on 2 busy cores); stop and remove
    all of it afterwards."""
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(PostgresServer())
        redis = stack.enter_context(RedisServer())
        broker = stack.enter_context(KafkaBroker())
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda s: s.start(), (postgres, redis, broker)))
        topology = SplitTopology(
            run_dir,
            name=f"dr{uuid.uuid4().hex[:8]}",
            gateway_port=free_port(),
            web_ports={
                "shop": [free_port()],
                "catalog": [free_port()],
                "orders": [free_port(), free_port()],
                "delivery": [free_port()],
            },
            settings={**DRILL_SETTINGS, **(settings or {})},
            # One client IP (this process) stands for many customers.
            gateway_values={"GATEWAY_RATE": "500r/s", "GATEWAY_BURST": "1000"},
            pg=postgres.admin_url,
            kafka=broker.bootstrap,
            redis=redis.url,
        )
        stack.callback(topology.destroy)
        topology.prepare(fresh=True)
        # Plenty of stock: every order of the load goes all the way to DELIVERED.
        topology.cluster.sql(
            "catalog", "UPDATE catalog_product SET stock = 1000000 WHERE active RETURNING id"
        )
        topology.start()
        yield Stage(postgres, redis, broker, topology, _customers(topology))


def _customers(topology: SplitTopology, count: int = 4) -> Shop:
    gateway = Api(topology.url)
    customers = []
    for n in range(count):
        name = f"drill{n}"
        status, body = gateway.post(
            "/api/auth/register/", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        assert status == 201, body
        customers.append(gateway.login(name, PASSWORD))
    products = dict(
        topology.cluster.sql("catalog", "SELECT id, stock FROM catalog_product WHERE active AND stock > 0")
    )
    topology.cluster.wait_until(
        lambda: (
            topology.cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0]
            >= len(products)
        ),
        what="orders' product snapshot to catch up with the catalog",
    )
    return Shop(
        topology.cluster, gateway, gateway.login("admin", topology.admin_password), customers, products
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.drills", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "drills", nargs="*", help="postgres, redis, broker-kill, broker-freeze, web-kill (default: all)"
    )
    parser.add_argument("--rate", type=float, default=4.0, help="orders per second through the gateway (4)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed path)")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="shop-drills-"))
    failures = 0
    started = time.monotonic()
    with stage(run_dir) as s:
        print(f"stage up in {time.monotonic() - started:.0f} s (logs: {run_dir / 'logs'})", flush=True)
        faults = s.faults()
        unknown = set(args.drills) - set(faults)
        if unknown:
            parser.error(f"no drill named {', '.join(sorted(unknown))}; choose from {', '.join(faults)}")
        load = s.load(rate=args.rate)
        for name in args.drills or list(faults):
            report = run_drill(s.topology, s.shop, load, faults[name])
            print(report.summary(), flush=True)
            try:
                assert_saga_invariants(s.shop, load.accepted(), settled=True)
                print("  invariants      hold", flush=True)
            except AssertionError as exc:
                failures += 1
                print(f"  invariants      BROKEN: {str(exc)[:2000]}", flush=True)
    print(f"all drills took {time.monotonic() - started:.0f} s")
    if not args.keep_logs:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
