"""The zmq_proxy role's example alerts and Grafana dashboard name only metrics the proxy exposes.

The exposed names come from the driver itself: a real Proxy's snapshot rendered by its
exporter and parsed back by prometheus_client, so renaming a metric breaks this test.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from oslo_config import cfg
from oslo_messaging_zmq import metrics, options
from oslo_messaging_zmq.proxy import Proxy
from oslo_messaging_zmq.routing import Counters
from prometheus_client.parser import text_string_to_metric_families

MONITORING = Path(__file__).resolve().parents[2] / "roles" / "zmq_proxy" / "files" / "monitoring"
ALERTS = MONITORING / "zmq-proxy-alerts.yml"
DASHBOARD = MONITORING / "zmq-proxy-grafana.json"
METRIC = re.compile(r"\b" + metrics.PREFIX + r"[a-z0-9_]+")
DURATION = re.compile(r"^([0-9]+[smhdwy])+$")


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Sample names of a proxy that counted something on one target."""
    conf = cfg.ConfigOpts()
    options.register_proxy(conf)
    conf([], project="test")
    conf.set_override("security_mode", "plain", group="zmq_proxy")
    prx = Proxy(conf.zmq_proxy)
    try:
        for name in Counters.PER_TARGET:
            prx.counters.inc(name, "rpc/nova/compute")
        prx.maintenance()
        text = metrics.Exporter(lambda: prx.snapshot).render()[0].decode()
    finally:
        prx.close()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    return [rule for group in groups for rule in group["rules"]]


def _panel_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_exposed_names_follow_prometheus_conventions(exposed):
    assert metrics.PREFIX + "routed_total" in exposed and metrics.PREFIX + "info" in exposed
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in exposed)


def test_alert_rules_have_prometheus_structure():
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
    watched = " ".join(rule["expr"] for rule in rules)
    for name in ("dropped_total", "auth_denied_total", "target_listeners", "held_total"):
        assert metrics.PREFIX + name in watched, name
    assert re.search(r"\bup\{[^}]*\} == 0", watched), "an alert on the proxy being down"


def test_alert_rules_name_exposed_metrics(exposed):
    for rule in _rules():
        used = set(METRIC.findall(rule["expr"]))
        assert used or "up{" in rule["expr"], rule["alert"]
        assert used <= exposed, (rule["alert"], used - exposed)


def test_dashboard_panels_name_exposed_metrics(exposed):
    dashboard = json.loads(DASHBOARD.read_text())
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for title, expr in _panel_exprs():
        used = set(METRIC.findall(expr))
        assert used or expr.startswith("up{"), title
        assert used <= exposed, (title, used - exposed)
    for variable in dashboard["templating"]["list"]:
        assert set(METRIC.findall(variable.get("definition", ""))) <= exposed, variable["name"]
    shown = " ".join(expr for _title, expr in _panel_exprs())
    for name in ("routed_total", "dropped_total", "held_messages", "auth_allowed_total"):
        assert metrics.PREFIX + name in shown, name
    for name in ("auth_denied_total", "target_listeners", "resident_memory_bytes"):
        assert metrics.PREFIX + name in shown, name
