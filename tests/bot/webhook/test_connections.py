"""Connection limits: validation, the open-file plan, the waiting order, the CLI flags."""

from __future__ import annotations

import logging

import pytest

from supportbot.webhook import server
from supportbot.webhook.connections import (
    ConnectionLimits,
    IncidentLog,
    NofilePlan,
    WaitingConnections,
    default_max_requests,
    plan_nofile,
)
from supportbot.webhook.testing import settings_env


def test_default_max_requests_scales_with_the_redis_pool() -> None:
    assert default_max_requests(64) == 256
    assert default_max_requests(4) == 64


@pytest.mark.parametrize(
    "fields",
    [
        {"header_timeout": 0},
        {"header_timeout": 30, "request_timeout": 20},
        {"max_requests": 0},
        {"max_connections": 0},
    ],
)
def test_inconsistent_limits_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ConnectionLimits(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("connections", "soft", "hard", "plan"),
    [
        # The soft limit is raised to fit; the hard limit allows it.
        (10_000, 1024, 20_000, NofilePlan(10_000, 12_304)),
        # Already enough: left alone.
        (10_000, 65_536, 65_536, NofilePlan(10_000, None)),
        (10_000, None, None, NofilePlan(10_000, None)),
        # The hard limit is too low: the cap shrinks, the soft limit goes to the hard one.
        (10_000, 1024, 4096, NofilePlan(1792, 4096)),
        (10_000, 1024, 2048, NofilePlan(512, 2048)),
        (10_000, 1024, None, NofilePlan(10_000, 12_304)),
    ],
)
def test_nofile_plan(
    connections: int, soft: int | None, hard: int | None, plan: NofilePlan
) -> None:
    assert plan_nofile(connections, soft, hard, reserve=2304) == plan


def test_waiting_connections_pop_the_longest_waiting_first() -> None:
    waiting: WaitingConnections[str] = WaitingConnections()
    for name in ("a", "b", "c"):
        waiting.add(name)
    waiting.add("a")  # waits again after a request: now the most recent
    waiting.discard("b")  # has a request in the app
    assert len(waiting) == 2 and "b" not in waiting
    assert [waiting.pop_oldest(), waiting.pop_oldest(), waiting.pop_oldest()] == ["c", "a", None]


def test_incident_log_summarises_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    incidents = IncidentLog(interval=10.0)
    with caplog.at_level(logging.INFO, logger="supportbot.webhook.connections"):
        incidents.record("idle_timeout", now=100.0)
        for now in (101.0, 102.0, 105.0):
            incidents.record("shed", now)
        incidents.record("idle_timeout", now=110.0)
    summaries = [
        (r.levelname, r.__dict__.get("idle_timeout"), r.__dict__.get("shed"))
        for r in caplog.records
    ]
    assert summaries == [("INFO", 1, None), ("WARNING", 1, 3)]


def test_cli_flags_make_the_limits() -> None:
    parser = server.build_parser()
    defaults = server.connection_limits(parser.parse_args([]), redis_max_connections=64)
    assert defaults == ConnectionLimits()
    assert (defaults.header_timeout, defaults.request_timeout) == (10.0, 20.0)
    assert (defaults.max_requests, defaults.max_connections) == (256, 10_000)
    args = parser.parse_args(
        ["--header-timeout", "2", "--request-timeout", "3", "--limit-concurrency", "8"]
        + ["--limit-connections", "500"]
    )
    assert server.connection_limits(args, 64) == ConnectionLimits(2.0, 3.0, 8, 500)


def test_inconsistent_flags_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = settings_env("redis://127.0.0.1:1/0", "postgresql://sb@127.0.0.1:1/sb")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        server.main(["--header-timeout", "30"])
    assert exited.value.code == 2
    assert "header_timeout <= request_timeout" in capsys.readouterr().err
