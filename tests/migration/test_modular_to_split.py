"""Shape 2 -> shape 3, performed under traffic: one service at a time leaves the modular monolith for
its own database on a second Postgres server, while customers keep ordering through the gateway.

Starting point: shape 2 behind the gateway (nginx routes every path to the monolith on Postgres
and Kafka). catalog moves out, back in (the rollback), out again; then orders, then delivery: at
the end every service runs alone (SHOP_SERVICES=<service>) and the monolith is the identity
service. The steps are devtools/migration.py's, which the README's runbook lists and
`make migrate-demo` narrates; the traffic is devtools/load.py's.
"""

from __future__ import annotations

import uuid

import pytest

from devtools.http import Api, free_port, http_status
from devtools.load import LoadClient
from devtools.migration import FIGURES_HEADER, Migration, cut_figures
from devtools.postgres import TemporaryServer
from devtools.split import SplitTopology, free_web_ports
from tests.integration.saga import Shop, assert_saga_invariants

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e]
PASSWORD = "demo-pass-123"
MOVES = [("catalog", "out"), ("catalog", "back"), ("catalog", "out"), ("orders", "out"), ("delivery", "out")]


@pytest.fixture
def migration(split_services, tmp_path):
    topology = SplitTopology(
        tmp_path,
        name=f"cut{uuid.uuid4().hex[:10]}",
        gateway_port=free_port(),
        web_ports=free_web_ports(),
        settings={"DELIVERY_STEP_SECONDS": "0.5", "DELIVERY_STALLED_AFTER_SECONDS": "5"},
        gateway_values={"GATEWAY_RATE": "500r/s", "GATEWAY_BURST": "1000", "GATEWAY_AUTH_RATE": "50r/s"},
    )
    with TemporaryServer(free_port()) as second_server:
        migration = Migration(topology, second_server, say=print)
        try:
            migration.prepare_fresh(PASSWORD)
            migration.start()
            yield migration
        finally:
            migration.destroy()


def test_services_move_out_one_at_a_time_while_orders_keep_flowing(migration):
    cluster = migration.cluster
    gateway = Api(migration.topology.url)
    customers = []
    for n in range(3):
        status, body = gateway.post(
            "/api/auth/register/",
            {"username": f"buyer{n}", "email": f"buyer{n}@example.com", "password": "a-long-passphrase-9"},
        )
        assert status == 201, body
        customers.append(gateway.login(f"buyer{n}", "a-long-passphrase-9"))
    stock = dict(cluster.sql("catalog", "SELECT id, stock FROM catalog_product WHERE active"))
    cluster.wait_until(
        lambda: cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0] >= len(stock),
        what="orders' product snapshot to catch up with the catalog",
    )

    load = LoadClient(customers, sorted(stock), orders_per_second=2, probes_per_second=2).start()
    try:
        migration.perform(MOVES)
    finally:
        load.stop()

    # Shape 3: each service alone behind its own route; the monolith is identity only.
    assert migration.monolith_services == ["shop"]
    for service in ("catalog", "orders", "delivery"):
        assert migration.topology.gateway.routes[service] == migration.topology.web_ports[service]
        for port in migration.topology.web_ports[service]:
            assert http_status(f"http://127.0.0.1:{port}/readyz") == 200
    for alias in ("catalog", "orders", "orders_read", "delivery"):  # on the second server now
        assert f"127.0.0.1:{migration.second_server.port}/" in cluster.database_url(alias)

    # Every order accepted before, during and after the cuts reaches a final state, with the
    # saga's invariants: stock moved once per confirmed line, one shipment per delivered order.
    accepted = load.accepted_ids()
    every_order = [o for (o,) in cluster.sql("orders", "SELECT id FROM orders_order")]
    assert set(accepted) == set(every_order), "an accepted order went missing, or one nobody placed appeared"
    shop = Shop(cluster, gateway, None, customers, stock)
    shop.wait_all_final(every_order, timeout=120)
    outcome = assert_saga_invariants(shop, every_order)
    assert outcome["DELIVERED"] > 0
    assert outcome["REJECTED"] > 0
    for alias in migration.cluster_aliases():
        twice = cluster.sql(
            alias, "SELECT event_id, handler FROM events_inboxentry GROUP BY 1, 2 HAVING count(*) > 1"
        )
        assert twice == [], (alias, twice)

    # The read side agrees with the write side, order by order.
    written = dict(cluster.sql("orders", "SELECT id, status FROM orders_order"))
    cluster.wait_until(
        lambda: (
            dict(
                cluster.sql(
                    "orders_read",
                    "SELECT order_id, status FROM orders_ordersummary s"
                    " JOIN orders_projectionstate p ON s.generation = p.active_generation",
                )
            )
            == written
        ),
        what="the read side to agree with the write side",
    )

    figures = [cut_figures(load, cut) for cut in migration.cuts]
    print("\n" + FIGURES_HEADER + "\n" + "\n".join(f.line() for f in figures))
    for f in figures:
        # No request to the services that stay put fails: the gateway reloads onto the new
        # monolith process before the old one stops.
        assert f.others_failed == 0, [
            p
            for s in ("shop", "catalog", "orders", "delivery")
            if s != f.cut.service
            for p in load.failed_probes(s, f.cut.started, f.cut.route_on + 2)
        ]
        assert f.window > 0, f  # the probes saw the service's route off: they did look
    # Orders prices from its own snapshot of the catalog: it keeps taking orders while catalog moves.
    for f in figures:
        if f.cut.service == "catalog":
            assert f.placed > 0, f
            assert f.refused == 0, (f, load.refused(f.cut.route_off, f.cut.route_on))
    # While orders itself moves, its API is off: POSTs are refused (502), none is half-placed.
    [orders_cut] = [f for f in figures if f.cut.service == "orders"]
    assert orders_cut.placed == 0, orders_cut
    assert orders_cut.refused > 0, orders_cut
