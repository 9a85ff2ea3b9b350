"""The benchmark's measurement helpers: audit-log counting by identity and window, write
classification, apiserver metric totals, /proc readings."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from supportbot_operator import benchkit

USER = "system:serviceaccount:sys:op"


def _event(audit_id: str, verb: str, at: float, user: str = USER, **ref: str) -> str:
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "auditID": audit_id,
            "stage": "ResponseComplete",
            "verb": verb,
            "user": {"username": user},
            "requestURI": "/apis/x",
            "objectRef": ref,
            "requestReceivedTimestamp": stamp,
        }
    )


def test_audit_counts_one_identity_in_the_window_once_per_request() -> None:
    lines = [
        _event("a", "patch", 100.5, resource="deployments"),
        _event("b", "watch", 101.0, resource="secrets"),
        _event("b", "watch", 101.0, resource="secrets"),  # ResponseStarted + ResponseComplete
        _event("c", "patch", 102.0, resource="supportbots", subresource="status"),
        _event("d", "get", 99.0, resource="deployments"),  # before the window
        _event("e", "create", 103.0, resource="events"),  # at the (exclusive) end
        _event("f", "delete", 101.0, user="admin", resource="deployments"),
        "not json",
    ]
    counts = benchkit.audit_counts(lines, USER, 100.0, 103.0)
    assert counts == {"patch deployments": 1, "watch secrets": 1, "patch supportbots/status": 1}
    assert benchkit.writes_of(counts) == 2


def test_request_totals_sum_by_verb() -> None:
    text = "\n".join(
        [
            "# HELP apiserver_request_total Counter of apiserver requests",
            "# TYPE apiserver_request_total counter",
            'apiserver_request_total{code="200",resource="pods",verb="GET"} 5',
            'apiserver_request_total{code="200",resource="nodes",verb="GET"} 2',
            'apiserver_request_total{code="201",resource="events",verb="POST"} 3',
            'other_total{verb="GET"} 100',
        ]
    )
    assert benchkit.request_totals(text + "\n") == {"GET": 7, "POST": 3}
    by_resource = benchkit.request_totals(text + "\n", ("verb", "resource"))
    assert by_resource == {"GET pods": 5, "GET nodes": 2, "POST events": 3}


def test_proc_stats_of_this_process() -> None:
    stats = benchkit.proc_stats(os.getpid())
    assert 5 < stats.rss_mb <= stats.peak_rss_mb
    assert stats.cpu_seconds > 0
    busy, total = benchkit.machine_jiffies()
    assert 0 < busy < total


def test_token_kubeconfig_keeps_the_cluster(tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    admin.write_text(
        json.dumps({"clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}]})
    )
    doc = json.loads(benchkit.token_kubeconfig(admin, "tok", tmp_path / "sa").read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert doc["users"][0]["user"] == {"token": "tok"}
    policy = benchkit.audit_policy(USER)
    assert policy["rules"][0] == {"level": "Metadata", "users": [USER]}


def test_profile_top_ranks_frames_by_self_time(tmp_path: Path) -> None:
    raw = tmp_path / "p.raw"
    raw.write_text("main;a;hot 6\nmain;b;hot 2\nmain;b 2\ngarbage\n")
    assert benchkit.profile_top(raw, 2) == [("hot", 80.0), ("b", 20.0)]
    assert benchkit.machine_description({"etcd": "v3"}, ["pyyaml"])[1].startswith(
        "Versions: etcd v3"
    )
