"""Traffic through the gateway while a migration runs, and what it saw.

Customers place orders at a steady rate while a prober reads each service's API a few times a
second. Every answer is kept with the time it was asked, so that afterwards, for any stretch of
time (a cut-over), one can tell how long each service answered errors, how many orders were
placed and which POSTs failed, and — from each order's timeline on the read side — how long an
order took from its POST to CONFIRMED. The migration test and `make migrate-demo` run the same
client and read the same figures.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from datetime import datetime

from devtools.http import Api

PROBE_TIMEOUT = 10.0  # seconds; a probe without an answer by then counts as slow, not failed
# What the prober reads per service: cheap, authenticated where the API is, always 200 when up.
PROBES = {
    "shop": ("POST", "/api/auth/token/verify/"),
    "catalog": ("GET", "/api/catalog/products/?page_size=1"),
    "orders": ("GET", "/api/orders/?page_size=1"),
    "delivery": ("GET", "/api/delivery/shipments/?page_size=1"),
}


@dataclass(frozen=True)
class Placement:
    at: float  # time.time() when the POST was sent
    status: int | None  # None: no HTTP answer at all
    order_id: int | None
    customer: int  # index into LoadClient.customers


@dataclass(frozen=True)
class Probe:
    at: float
    service: str
    status: int | None  # None: no HTTP answer (see `error`)
    error: str = ""  # why no answer came: "timed out", "refused", ...

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def slow(self) -> bool:
        """No answer within the timeout: an overloaded machine, not a refusal."""
        return self.status is None and "timed out" in self.error


@dataclass
class LoadClient:
    customers: list[Api]  # logged in
    products: list[int]  # ids to order from
    orders_per_second: float = 4.0
    probes_per_second: float = 3.0  # per service
    seed: int = 0
    placements: list[Placement] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # --- running --------------------------------------------------------------------------------
    def start(self) -> LoadClient:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._place_orders, name="load-orders", daemon=True)]
        self._threads += [
            threading.Thread(target=self._probe, args=(service,), name=f"load-probe-{service}", daemon=True)
            for service in PROBES
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _place_orders(self) -> None:
        rng = random.Random(self.seed)
        interval = 1 / self.orders_per_second
        next_at = time.monotonic()
        while not self._stop.is_set():
            n = rng.randrange(len(self.customers))
            lines = rng.sample(self.products, k=min(len(self.products), rng.randint(1, 3)))
            body = {
                # Now and then more than the stock holds: rejections keep flowing too.
                "lines": [{"product_id": p, "quantity": rng.choice([1, 1, 2, 3, 500])} for p in lines],
                "shipping_address": "221B Baker Street, London",
            }
            at = time.time()
            status, answer = _ask(self.customers[n], "POST", "/api/orders/", body)
            order_id = answer.get("id") if status == 201 and isinstance(answer, dict) else None
            with self._lock:
                self.placements.append(Placement(at, status, order_id, n))
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _probe(self, service: str) -> None:
        interval = 1 / self.probes_per_second
        api = self.customers[0]
        method, path = PROBES[service]
        body = {"token": api.token} if method == "POST" else None
        next_at = time.monotonic()
        while not self._stop.is_set():
            at = time.time()
            try:
                status, error = api.request(method, path, body, timeout=PROBE_TIMEOUT)[0], ""
            except (urllib.error.URLError, OSError) as exc:
                status, error = None, str(getattr(exc, "reason", exc))
            with self._lock:
                self.probes.append(Probe(at, service, status, error))
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    # --- what it saw ----------------------------------------------------------------------------
    def error_window(self, service: str, start: float, end: float) -> float:
        """Seconds from the first to the last failed probe of `service` in [start, end] (one
        probe interval at least when any failed; 0.0 when none did)."""
        failed = [p.at for p in self._probes(service, start, end) if not p.ok]
        if not failed:
            return 0.0
        return max(failed) - min(failed) + 1 / self.probes_per_second

    def failed_probes(self, service: str, start: float, end: float) -> list[Probe]:
        """Probes of `service` in [start, end] answered with an error or refused (not the slow
        ones: those got no answer within PROBE_TIMEOUT seconds)."""
        return [p for p in self._probes(service, start, end) if not p.ok and not p.slow]

    def slow_probes(self, service: str, start: float, end: float) -> list[Probe]:
        return [p for p in self._probes(service, start, end) if p.slow]

    def placed(self, start: float, end: float) -> list[Placement]:
        """Orders accepted (201) with their POST sent in [start, end]."""
        with self._lock:
            return [p for p in self.placements if start <= p.at <= end and p.status == 201]

    def refused(self, start: float, end: float) -> list[Placement]:
        """POSTs in [start, end] that did not place an order."""
        with self._lock:
            return [p for p in self.placements if start <= p.at <= end and p.status != 201]

    def accepted_ids(self) -> list[int]:
        with self._lock:
            return [p.order_id for p in self.placements if p.order_id is not None]

    def seconds_to_confirmed(self, placements: list[Placement]) -> dict[int, float]:
        """For each placed order that was confirmed: seconds from its POST to the confirmation,
        read from its timeline (the event's own time, not when a poll happened to see it)."""
        delays = {}
        for placement in placements:
            status, order = _ask(
                self.customers[placement.customer], "GET", f"/api/orders/{placement.order_id}/"
            )
            if status != 200:
                continue
            confirmed = [e["at"] for e in order.get("timeline", []) if e.get("fact") == "confirmed"]
            if confirmed:
                delays[placement.order_id] = datetime.fromisoformat(confirmed[0]).timestamp() - placement.at
        return delays

    def _probes(self, service: str, start: float, end: float) -> list[Probe]:
        with self._lock:
            return [p for p in self.probes if p.service == service and start <= p.at <= end]


def _ask(api: Api, method: str, path: str, body=None, *, timeout: float = 10):
    """(status, body); status None when no HTTP answer came (refused, reset, timed out)."""
    try:
        return api.request(method, path, body, timeout=timeout)
    except (urllib.error.URLError, OSError):
        return None, None
