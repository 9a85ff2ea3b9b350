"""The KEDA source trim keeps the scalers the operator renders and KEDA's own error for the rest."""

from __future__ import annotations

from pathlib import Path

from supportbot_dev import kedatrim

SWITCH = """func buildScaler(triggerType string) (scalers.Scaler, error) {
\t// TRIGGERS-START
\tswitch triggerType {
\tcase "activemq":
\t\treturn scalers.NewActiveMQScaler(config)
\tcase "cpu":
\t\treturn scalers.NewCPUMemoryScaler(corev1.ResourceCPU, config)
\tcase "redis":
\t\treturn scalers.NewRedisScaler(ctx, false, false, config)
\tcase "redis-streams":
\t\treturn scalers.NewRedisStreamsScaler(ctx, false, false, config)
\tdefault:
\t\treturn nil, fmt.Errorf("no scaler found for type: %s", triggerType)
\t}
\t// TRIGGERS-END
}
"""


def test_the_switch_keeps_only_our_triggers_and_the_default() -> None:
    out = kedatrim.trim_switch(SWITCH)
    assert 'case "activemq"' not in out and "NewActiveMQScaler" not in out
    for kept in ('case "cpu"', 'case "redis"', 'case "redis-streams"', "no scaler found"):
        assert kept in out
    assert out.startswith("func buildScaler") and out.rstrip().endswith("}")


def test_trim_removes_other_scaler_files_and_tests(tmp_path: Path) -> None:
    scalers = tmp_path / "pkg" / "scalers"
    (tmp_path / "pkg" / "scaling").mkdir(parents=True)
    scalers.mkdir(parents=True)
    (tmp_path / "pkg" / "scaling" / "scalers_builder.go").write_text(SWITCH)
    for name in ("redis_scaler.go", "redis_scaler_test.go", "aws_sqs_queue_scaler.go", "scaler.go"):
        (scalers / name).write_text("package scalers\n")
    removed = kedatrim.trim(tmp_path)
    assert removed == ["aws_sqs_queue_scaler.go"]
    left = sorted(p.name for p in scalers.iterdir())
    assert left == ["redis_scaler.go", "scaler.go", "zz_supportbot_trim.go"]
    assert "externalMetricType" in (scalers / "zz_supportbot_trim.go").read_text()
