"""The Grafana dashboard (docker/grafana/shop-dashboard.json) asks only for metrics the services
really export, under the names and labels they export them with. (No Grafana runs here: it is
not packaged for Debian and its frontend is built from its repository, so the JSON is checked
against the code instead.)"""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import events.metrics  # noqa: F401  registers the events metrics
import orders.metrics  # noqa: F401  registers the saga histograms

DASHBOARD = Path(__file__).resolve().parent.parent / "docker" / "grafana" / "shop-dashboard.json"
# Every series name the services' registry knows (a counter's _total, a histogram's _bucket...),
# with the label names its metric declares.
EXPORTED = {
    name: set(getattr(collector, "_labelnames", ()))
    for name, collector in REGISTRY._names_to_collectors.items()
    if name.startswith("shop_")
}
SERIES = re.compile(r"\b(shop_[a-z_]+)(\{[^}]*\})?")
WANTED = {
    "shop_order_saga_seconds_bucket",  # POST -> CONFIRMED / DELIVERED
    "shop_outbox_backlog",
    "shop_outbox_oldest_age_seconds",
    "shop_consumer_lag",
    "shop_events_handled_total",
    "shop_dead_letters_parked",
}


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["targets"], panel["title"]


def test_every_query_names_exported_metrics_and_labels():
    named = set()
    for expr in queries():
        assert expr.count("(") == expr.count(")"), expr
        for series, selector in SERIES.findall(expr):
            named.add(series)
            assert series in EXPORTED, f"{series} is not exported by the services ({expr})"
            declared = EXPORTED[series] | {"le"}
            used = set(re.findall(r"(\w+)\s*=", selector or ""))
            assert used <= declared, (series, used - declared)
        for grouping in re.findall(r"by \(([^)]*)\)", expr):
            series = SERIES.search(expr).group(1)
            assert {g.strip() for g in grouping.split(",")} <= EXPORTED[series] | {"le"}, expr
    assert named >= WANTED, WANTED - named
