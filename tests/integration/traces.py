"""Reading an order's trace back from the trace backend (Zipkin's API, devtools/tracing.py) and
checking its shape — shared by shape 2 (tests/integration/test_tracing.py) and shape 3
(tests/split/test_split_e2e.py)."""

from __future__ import annotations

from collections.abc import Iterator

from devtools.processes import wait_until
from devtools.tracing import TraceBackend
from events.schemas import topic_for

# The saga's events in the order they happen, each with the event whose handling caused it (None:
# the POST itself). A shipment's steps are Celery tasks that the delivery consumer scheduled while
# handling order_confirmed, each step scheduling the next.
SAGA = {
    "shop.orders.order_placed.v1": None,
    "shop.catalog.stock_reserved.v1": "shop.orders.order_placed.v1",
    "shop.orders.order_confirmed.v1": "shop.catalog.stock_reserved.v1",
    "shop.delivery.shipment_created.v1": "shop.orders.order_confirmed.v1",
    "shop.delivery.shipment_picked_up.v1": "shop.orders.order_confirmed.v1",
    "shop.delivery.shipment_in_transit.v1": "shop.orders.order_confirmed.v1",
    "shop.delivery.shipment_delivered.v1": "shop.orders.order_confirmed.v1",
    "shop.orders.order_delivered.v1": "shop.delivery.shipment_delivered.v1",
}


def order_trace(backend: TraceBackend, request_id: str, *, timeout: float = 60) -> list[dict]:
    """The spans of the one trace tagged with `request_id`, once every span of the saga is in and
    every span's parent with it: each process exports its spans in its own batches, so a consumer's
    span can reach the backend seconds before the relay's span it hangs from."""
    wanted = {f"{op} {event}" for event in SAGA for op in ("create", "process")}
    wanted |= {f"send {topic_for(event)}" for event in SAGA}

    def complete():
        found = backend.find("request_id", request_id)
        if len(found) != 1:
            return None
        spans = backend.trace(found[0][0]["traceId"])
        ids = {span["id"] for span in spans}
        parents = {span["parentId"] for span in spans if "parentId" in span}
        return spans if wanted <= {span.get("name") for span in spans} and parents <= ids else None

    try:
        return wait_until(complete, timeout=timeout, interval=1, what=f"the trace of request {request_id}")
    except AssertionError:
        found = [sorted({s.get("name") for s in t}) for t in backend.find("request_id", request_id)]
        raise AssertionError(f"incomplete trace of {request_id}: {found}\n{backend.logs()}") from None


def assert_one_trace_per_order(
    spans: list[dict], request_id: str, *, root_process: str, processes: set[str]
) -> dict[str, dict]:
    """The shape of a delivered order's trace (Zipkin's JSON v2): one root, the POST, in a process
    whose name starts with `root_process`; no orphan; the request id on every span; each saga
    event's create -> send (by a relay) -> process, in order, each create under the process span
    of the event that caused it; at least `processes` (and five) processes. Returns each event's
    create span."""
    by_id = {span["id"]: span for span in spans}
    assert len({span["traceId"] for span in spans}) == 1
    roots = [span for span in spans if "parentId" not in span]
    assert len(roots) == 1, [(r["name"], r["localEndpoint"]) for r in roots]
    (root,) = roots
    assert root["kind"] == "SERVER", root
    assert root["name"].startswith("post"), root
    assert root["localEndpoint"]["serviceName"].startswith(root_process), root
    orphans = [span["name"] for span in spans if span.get("parentId", root["id"]) not in by_id]
    assert orphans == [], orphans
    # The gateway's request id on every span, in every process.
    untagged = {
        (s["localEndpoint"]["serviceName"], s["name"])
        for s in spans
        if s.get("tags", {}).get("request_id") != request_id
    }
    assert untagged == set(), untagged

    def ancestors(span: dict) -> Iterator[dict]:
        while "parentId" in span:
            span = by_id[span["parentId"]]
            yield span

    def named(name: str) -> list[dict]:
        return [span for span in spans if span["name"] == name]

    creates = {}
    for event, cause in SAGA.items():
        (create,) = named(f"create {event}")
        creates[event] = create
        sends = [s for s in named(f"send {topic_for(event)}") if s.get("parentId") == create["id"]]
        assert sends, f"no send span under create {event}"
        assert all("relay" in s["localEndpoint"]["serviceName"] for s in sends), sends
        handled = [s for s in named(f"process {event}") if s.get("parentId") in {x["id"] for x in sends}]
        assert handled, f"no process span under the send of {event}"
        assert {s["tags"]["events.outcome"] for s in handled} <= {"applied", "duplicate"}, handled
        assert all(s["kind"] == "CONSUMER" for s in handled)
        lineage = [a["name"] for a in ancestors(create)]
        assert (f"process {cause}" in lineage) if cause else lineage == [root["name"]], (event, lineage)
        assert root["id"] in {a["id"] for a in ancestors(create)}, event
    # In order: each event was created after the one before it.
    times = [creates[event]["timestamp"] for event in SAGA]
    assert times == sorted(times), list(zip(SAGA, times, strict=True))
    seen = {span["localEndpoint"]["serviceName"] for span in spans}
    assert seen >= processes, seen
    assert len(seen) >= 5, seen
    return creates
