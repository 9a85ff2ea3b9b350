"""Every metric the Grafana dashboard and the alert rules query exists in the bot's or the
operator's registry (imported, never listed here), and every dashboard query is valid PromQL
(checked by promtool's parser). Names are matched against what each registry exposes: a counter
family `x` as `x_total`, a histogram as `x_bucket`/`x_sum`/`x_count`, a gauge as `x`."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from prometheus_client import CollectorRegistry

from supportbot.queueing.metrics import WorkerMetrics
from supportbot.webhook.metrics import WebhookMetrics
from supportbot_operator.metrics import Metrics as OperatorMetrics

from .conftest import Promtool

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "charts" / "supportbot-operator" / "files"
DASHBOARD = json.loads((FILES / "grafana-dashboard.json").read_text())
RULES = yaml.safe_load((FILES / "prometheus-rules.yaml").read_text())

# Modules whose metrics live on the process-wide default registry, as the worker loads them (its
# /metrics serves the worker registry plus the default one: supportbot.queueing.health).
WORKER_MODULES = ("supportbot.engine.runtime", "supportbot.queueing.main")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without"})
_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$", re.S)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {n for n in _NAME.findall(text) if n.lower() not in _KEYWORDS}


def exposed(registry: CollectorRegistry) -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    out: set[str] = set()
    for family in registry.collect():
        out.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return out


def registry_names() -> set[str]:
    for module in WORKER_MODULES:
        importlib.import_module(module)
    registries = [
        WebhookMetrics().registry,
        WorkerMetrics().registry,
        prometheus_client.REGISTRY,
        OperatorMetrics(dict).registry,
    ]
    return set().union(*(exposed(r) for r in registries))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> list[str]:
    """Every query of the dashboard, Grafana's variables replaced by what Prometheus sees."""
    found = [t["expr"] for p in _panels(DASHBOARD["panels"]) for t in p.get("targets", [])]
    for var in DASHBOARD["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = _LABEL_VALUES.match(query)
            assert match and match.group(1), (
                f"variable {var['name']}: use label_values(selector, l)"
            )
            found.append(match.group(1))
    out = []
    for expr in found:
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        out.append(re.sub(r"\$\{?\w+\}?", ".*", expr))
    return out


def rule_queries() -> list[str]:
    return [rule["expr"] for group in RULES["groups"] for rule in group["rules"]]


def test_metric_names_are_found_without_functions_labels_or_strings() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, model) (rate(a_seconds_bucket{model=~"x|y",'
        ' le!="b_total"}[5m] offset 1h))) / on (model) group_left (tenant) b_total'
        " and time() - c:recorded > 60 unless d"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c:recorded", "d"}


def test_suffixes_follow_the_family_type() -> None:
    known = registry_names()
    assert "supportbot_webhook_requests_total" in known, "a counter: _total"
    assert "supportbot_webhook_requests" not in known
    assert "supportbot_worker_queue_depth" in known, "a gauge: as named"
    assert "supportbot_worker_queue_depth_total" not in known
    assert {
        "supportbot_turn_duration_seconds_bucket",
        "supportbot_turn_duration_seconds_count",
    } <= known
    assert "supportbot_operator_tenant_condition" in known, "a collector's family (operator)"


def test_the_dashboard_has_the_issue_panels_per_tenant() -> None:
    titles = " | ".join(p["title"].lower() for p in _panels(DASHBOARD["panels"]))
    for topic in ("inbound", "ack latency", "backlog", "in flight", "turn latency", "llm latency",
                  "llm cost", "fallbacks", "replies", "handoffs", "flow http steps",
                  "answer cache hit ratio", "csat", "handoff notifications"):  # fmt: skip
        assert topic in titles, topic
    for panel in _panels(DASHBOARD["panels"]):
        for target in panel.get("targets", []):
            assert '=~"$tenant"' in target["expr"], (panel["title"], target["expr"])


@pytest.mark.parametrize("source", ["dashboard", "rules"], ids=["dashboard", "alert-rules"])
def test_queried_metrics_exist_in_a_registry(source: str) -> None:
    queries = dashboard_queries() if source == "dashboard" else rule_queries()
    known = registry_names()
    used = set().union(*(metric_names(q) for q in queries))
    assert len(used) >= 10, used
    missing = sorted(used - known)
    assert not missing, f"not in the bot's or operator's registry: {missing}"


def test_dashboard_queries_parse(promtool: Promtool, tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = promtool("check", "rules", path)
    assert res.returncode == 0, res.stdout + res.stderr
