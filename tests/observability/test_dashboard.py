"""The Grafana dashboard asks only for metrics the server exports, and Prometheus can evaluate its queries' names."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from eventbus import EventBus, JWTAuth

DASHBOARD = pathlib.Path(__file__).parents[2] / "examples" / "observability" / "grafana-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
_NAME = re.compile(r"\beventbus_[a-z_]+\b")


def exported_names(jwt_auth: JWTAuth) -> set[str]:
    bus = EventBus(auth=jwt_auth, metrics=True)
    assert bus.metrics is not None
    names = set()
    for family in bus.metrics.registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def queries(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [q for value in node.values() for q in queries(value)]
    if isinstance(node, list):
        return [q for value in node for q in queries(value)]
    return []


def test_every_query_names_a_metric_the_server_exports(jwt_auth: JWTAuth) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_names(jwt_auth)
    exprs = queries(dashboard["panels"])
    assert len(exprs) >= 10
    used = {name for expr in exprs for name in _NAME.findall(expr)}
    assert used <= exported, sorted(used - exported)
    # The panels the issue asks for are there.
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Connections", "Deliveries per second", "Connection refusals by code", "Handler latency"} <= titles
    assert {"Slow consumers dropped", "Redis errors"} <= titles
    # The templating query names an exported metric too.
    [instance] = [v for v in dashboard["templating"]["list"] if v["name"] == "instance"]
    assert set(_NAME.findall(instance["query"])) <= exported


def test_the_checker_catches_a_misspelt_metric(jwt_auth: JWTAuth) -> None:
    exported = exported_names(jwt_auth)
    assert "eventbus_deliveries_total" in exported
    assert "eventbus_client_event_duration_seconds_bucket" in exported
    assert "eventbus_delivery_total" not in exported
