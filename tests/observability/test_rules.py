"""The chart's alert rules (charts/supportbot-operator/files/prometheus-rules.yaml): valid for
`promtool check rules`, their unit tests (rules_test.yaml, synthetic series) pass under
`promtool test rules` and would notice a broken threshold, and every alert is tested (fires and
stays quiet), labelled with a severity and has a runbook line in the chart README. The fault
runs of the load tests are replayed through the alerts too (fault_runs_test.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .conftest import Promtool

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "supportbot-operator"
RULES = CHART / "files" / "prometheus-rules.yaml"
UNIT_TESTS = Path(__file__).with_name("rules_test.yaml")
FAULT_RUNS = Path(__file__).with_name("fault_runs_test.yaml")


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check(promtool: Promtool) -> None:
    res = promtool("check", "rules", RULES)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in res.stdout + res.stderr


def test_rule_unit_tests_pass(promtool: Promtool) -> None:
    res = promtool("test", "rules", UNIT_TESTS)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


def test_fault_runs_replayed(promtool: Promtool) -> None:
    """What the alerts would have said during the load tests' fault runs (see the file)."""
    res = promtool("test", "rules", FAULT_RUNS)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unit_tests_notice_a_broken_rule(promtool: Promtool, tmp_path: Path) -> None:
    threshold = "(supportbot_worker_queue_oldest_age_seconds) > 120\n"
    assert RULES.read_text().count(threshold) == 1
    (tmp_path / "rules.yaml").write_text(
        RULES.read_text().replace(threshold, threshold[:-1] + "0\n")
    )
    tests = yaml.safe_load(UNIT_TESTS.read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    res = promtool("test", "rules", tmp_path / "tests.yaml")
    assert res.returncode != 0
    assert "SupportbotBacklogStale" in res.stdout + res.stderr


def test_every_alert_is_tested_labelled_and_documented() -> None:
    readme = (CHART / "README.md").read_text()
    cases = [
        case
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning"), name
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"] == f"charts/supportbot-operator/README.md#{name.lower()}"
        assert f'<a id="{name.lower()}"></a>`{name}`' in readme, f"{name}: no runbook line"
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no test where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no test where it is pending"
