"""The `helm test` self-test's decisions without a cluster (the whole hook on a real API
server: test_cluster_helm_test.py)."""

from __future__ import annotations

from typing import Any

from supportbot_operator import schemacheck, selftest


def test_report_passes_only_when_every_check_does() -> None:
    def bad() -> str:
        raise selftest.CheckFailed("refused")

    outcomes = selftest.run_checks([("crd", lambda: "Established"), ("admitted", bad)])
    code, text = selftest.report(outcomes)
    assert code == 1
    assert text.splitlines() == ["ok   crd: Established", "FAIL admitted: refused"]
    assert selftest.report(outcomes[:1])[0] == 0


def test_established() -> None:
    assert selftest.established(
        {"status": {"conditions": [{"type": "Established", "status": "True"}]}}
    )
    assert not selftest.established(
        {"status": {"conditions": [{"type": "Established", "status": "False"}]}}
    )
    assert not selftest.established({})


def test_the_sample_is_a_valid_supportbot(crd_schema: dict[str, Any]) -> None:
    body = selftest.sample("tenants", "919100000001")
    assert body["metadata"]["name"].startswith("selftest-")
    assert schemacheck.validate(body, crd_schema) == []
    assert schemacheck.validate(selftest.sample("tenants", "not-a-number"), crd_schema)
