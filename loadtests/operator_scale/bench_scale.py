#!/usr/bin/env python3
"""Operator scale benchmark (issue 5): N SupportBots from create to Ready on the local control
plane in FULL mode (controller-manager, scheduler, KWOK pods). One command:

    python loadtests/operator_scale/bench_scale.py                 # 100 and 500 tenants
    python loadtests/operator_scale/bench_scale.py --tenants 100 --profile

Per size, on a fresh control plane whose kube-apiserver audits the operator's identity only: the
chart's ServiceAccount + RBAC (from `helm template`); the operator as a local process with that
ServiceAccount's token; per tenant a Secret and a flow ConfigMap, created before the clock
starts. The clock runs from creating the N SupportBots until all are Ready. After the operator
goes quiet, an idle window (60 s, a resync pass inside) counts its API requests (audit log), its
write counter and `apiserver_request_total`. Also: operator RSS (peak = VmHWM, idle mean) and
CPU, CPU of each control-plane process. Writes `loadtests/results/<date>-operator-scale.md`.
No `__init__.py` in this folder on purpose: `loadtests/` is on sys.path, `operator` is stdlib.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / ".venv" / "bin" / "python"
if VENV_PY.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])  # noqa: S606 - re-exec in the project venv

import yaml  # noqa: E402

from supportbot_dev.controlplane import LocalControlPlane  # noqa: E402
from supportbot_operator import benchkit as bk  # noqa: E402
from supportbot_operator.testing import OperatorProcess, wait_for  # noqa: E402

RELEASE, SYSTEM_NS = "sb", "supportbot-system"
SA = f"{RELEASE}-supportbot-operator"
SA_USER = f"system:serviceaccount:{SYSTEM_NS}:{SA}"
NAMESPACES = 10
SERVICE_RANGE_FLAG = "--service-cluster-ip-range="
SERVICE_RANGE = SERVICE_RANGE_FLAG + "10.0.0.0/16"
FLOW = yaml.safe_load((ROOT / "examples" / "01-acme-retail" / "flow.yaml").read_text())["data"][
    "flow.yaml"
]
GOALS = {"ready_s": 120.0, "rss_mb": 200.0, "idle_writes": 0}


# --- pure: manifests, parsing, report ------------------------------------------------------
def tenant_docs(i: int) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """(namespace, [Secret, flow ConfigMap], SupportBot) of tenant `i`: small replica counts
    and requests so 2 x N KWOK pods fit, agent API on."""
    ns, name = f"bench-{i % NAMESPACES}", f"t-{i:04d}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-secrets", "namespace": ns},
        "stringData": {
            "auth-key": f"authkey-{i}",
            "webhook-secret": f"webhook-{i}",
            "api-key": f"or-{i}",
            "redis-url": f"redis://redis.{ns}.svc:6379/{i % 16}",
            "postgres-dsn": f"postgresql://bot:pw@pg.{ns}.svc:5432/{name}",
            "jwt-secret": f"jwt-secret-of-{name}-" + "x" * 32,
        },
    }
    flow = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-flow", "namespace": ns},
        "data": {"flow.yaml": FLOW.replace("Acme Retail", f"tenant {name}")},  # distinct flows
    }

    def ref(key: str) -> dict[str, str]:
        return {"name": f"{name}-secrets", "key": key}

    tiny = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
    bot = {
        "apiVersion": "supportbot.dev/v1alpha1",
        "kind": "SupportBot",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "whatsapp": {
                "integratedNumber": f"91{9_000_000_000 + i}",
                "authKeySecretRef": ref("auth-key"),
                "webhookSecretRef": ref("webhook-secret"),
            },
            "llm": {"apiKeySecretRef": ref("api-key"), "models": ["openai/gpt-4o-mini"]},
            "flow": {"configMapRef": {"name": f"{name}-flow", "key": "flow.yaml"}},
            "storage": {
                "redisUrlSecretRef": ref("redis-url"),
                "postgresDsnSecretRef": ref("postgres-dsn"),
            },
            "webhook": {"minReplicas": 1, "maxReplicas": 2, "resources": tiny},
            "worker": {"minReplicas": 1, "maxReplicas": 2, "resources": tiny},
            "agentApi": {"jwtSecretRef": ref("jwt-secret")},
        },
    }
    return ns, [secret, flow], bot


def milestones(series: list[tuple[float, int]], n: int) -> dict[str, float | None]:
    """Seconds until the first, 50 %, 90 % and 100 % of `n` were Ready."""
    out: dict[str, float | None] = {}
    for label, want in (("first", 1), ("50%", (n + 1) // 2), ("90%", -(-9 * n // 10)), ("100%", n)):
        out[label] = next((t for t, ready in series if ready >= want), None)
    return out


# --- I/O edges ------------------------------------------------------------------------------
class AuditedControlPlane(LocalControlPlane):
    """The project's full local control plane, plus an audit log of the operator's identity."""

    def __init__(self, policy: Path, audit_log: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.audit_args = bk.audit_args(policy, audit_log)

    def _spawn(self, name: str, argv: list[str | os.PathLike[str]]) -> subprocess.Popen[bytes]:
        if name == "kube-apiserver":
            # The harness's /24 holds 254 Service IPs; every tenant has a Service.
            argv = [SERVICE_RANGE if str(a).startswith(SERVICE_RANGE_FLAG) else a for a in argv]
            argv += self.audit_args
        return super()._spawn(name, argv)


def apply_docs(cp: LocalControlPlane, docs: list[dict[str, Any]]) -> None:
    items = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    cp.kubectl("apply", "--server-side", "--field-manager=bench", "-f", "-", stdin=items)


def create_parallel(cp: LocalControlPlane, docs: list[dict[str, Any]], ways: int = 4) -> None:
    """`kubectl create` in `ways` parallel processes (kubectl itself creates one by one)."""
    procs = []
    for k in range(ways):
        chunk = {"apiVersion": "v1", "kind": "List", "items": docs[k::ways]}
        p = subprocess.Popen(
            [str(cp.bins.kubectl), "create", "-f", "-", "-o", "name"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cp.env(),
            text=True,
        )
        assert p.stdin is not None
        p.stdin.write(json.dumps(chunk))
        p.stdin.close()
        procs.append(p)
    for p in procs:
        err = p.stderr.read() if p.stderr else ""
        if p.wait() != 0:
            raise RuntimeError(f"kubectl create failed: {err[-2000:]}")


def install_rbac(cp: LocalControlPlane) -> Path:
    """The chart's ServiceAccount + RBAC (not its Deployment: the operator runs locally with
    that ServiceAccount's token). Returns a kubeconfig for that identity."""
    chart = str(ROOT / "charts" / "supportbot-operator")
    args = ("-n", SYSTEM_NS, "--set", "crds.install=false", "--kube-version=1.35.4")
    out = cp.helm("template", RELEASE, chart, *args).stdout
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    docs = [d for d in yaml.safe_load_all(out) if d and d["kind"] in kinds]
    cp.kubectl("create", "namespace", SYSTEM_NS)
    apply_docs(cp, docs)
    token = cp.kubectl("create", "token", SA, "-n", SYSTEM_NS, "--duration=3h").stdout.strip()
    return bk.token_kubeconfig(cp.kubeconfig, token, cp.workdir / "operator-sa.kubeconfig")


# --- one size -------------------------------------------------------------------------------
@dataclass
class Result:
    tenants: int
    apply_s: float = 0.0
    ready: dict[str, float | None] = field(default_factory=dict)
    rss_start: float = 0.0
    rss_peak: float = 0.0
    rss_idle_mean: float = 0.0
    rss_idle_max: float = 0.0
    op_cpu_converge: float = 0.0
    op_cpu_idle: float = 0.0
    cp_cpu: dict[str, float] = field(default_factory=dict)
    machine_busy_pct: float = 0.0
    machine_busy_cpu_s: float = 0.0
    converge_requests: Counter[str] = field(default_factory=Counter)
    idle_requests: Counter[str] = field(default_factory=Counter)
    idle_op_writes: float = 0.0
    idle_reconciles: float = 0.0
    idle_apiserver: Counter[str] = field(default_factory=Counter)
    reconciles: dict[str, float] = field(default_factory=dict)
    profile: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ready_counts(op: OperatorProcess, cp: LocalControlPlane, n: int) -> int:
    """Ready tenants per the operator's metric; at n, confirmed by listing the SupportBots."""
    try:
        ready = int(op.total("supportbot_operator_tenants", condition="Ready", status="True"))
    except AssertionError:
        return 0
    if ready < n:
        return ready
    items = json.loads(cp.kubectl("get", "supportbots", "-A", "-o", "json").stdout)["items"]
    conds = [c for b in items for c in (b.get("status") or {}).get("conditions", [])]
    return sum(1 for c in conds if c["type"] == "Ready" and c["status"] == "True")


def _prepare(cp: LocalControlPlane, n: int) -> tuple[Path, list[dict[str, Any]]]:
    """CRD, the chart's RBAC, namespaces and every tenant's inputs; returns the operator's
    kubeconfig and the SupportBots to create."""
    cp.kubectl(
        "apply", "--server-side", "-f", str(ROOT / "crds" / "supportbot.dev_supportbots.yaml")
    )
    crd = ("wait", "--for=condition=Established", "crd/supportbots.supportbot.dev")
    wait_for(lambda: cp.kubectl(*crd, check=False).returncode == 0, 60, "the CRD", 0.5)
    kubeconfig = install_rbac(cp)
    tenants = [tenant_docs(i) for i in range(n)]
    for k in range(NAMESPACES):
        cp.kubectl("create", "namespace", f"bench-{k}")
    inputs = [doc for _, docs, _ in tenants for doc in docs]
    for k in range(0, len(inputs), 400):
        apply_docs(cp, inputs[k : k + 400])
    return kubeconfig, [bot for _, _, bot in tenants]


def _converge(
    cp: LocalControlPlane,
    op: OperatorProcess,
    bots: list[dict[str, Any]],
    res: Result,
    timeout: float,
) -> float:
    """Create the SupportBots, wait for all Ready; fills timings and CPU; returns t0."""
    n, pid = len(bots), op.proc.pid
    cp_pids = {name: p.pid for name, p in cp.procs}
    cpu0 = {name: bk.proc_stats(p).cpu_seconds for name, p in cp_pids.items()}
    busy0, total0 = bk.machine_jiffies()
    op_cpu0 = bk.proc_stats(pid).cpu_seconds
    t0 = time.time()
    create_parallel(cp, bots)
    res.apply_s = time.time() - t0
    series: list[tuple[float, int]] = []
    last_log = t0
    while time.time() < t0 + timeout and (not series or series[-1][1] < n):
        series.append((time.time() - t0, _ready_counts(op, cp, n)))
        if time.time() - last_log >= 10:
            degraded = op.total("supportbot_operator_tenants", condition="Degraded", status="True")
            print(f"  {series[-1][0]:6.1f} s: {series[-1][1]}/{n} Ready, {degraded:.0f} Degraded")
            last_log = time.time()
        time.sleep(0.5 if series[-1][1] < n else 0)
    res.ready = milestones(series, n)
    if res.ready["100%"] is None:
        res.notes.append(f"only {series[-1][1]}/{n} Ready after {timeout:.0f} s")
    busy1, total1 = bk.machine_jiffies()
    res.machine_busy_pct = 100 * (busy1 - busy0) / max(total1 - total0, 1)
    res.machine_busy_cpu_s = (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
    res.cp_cpu = {k: bk.proc_stats(p).cpu_seconds - cpu0[k] for k, p in cp_pids.items()}
    res.op_cpu_converge = bk.proc_stats(pid).cpu_seconds - op_cpu0
    return t0


def _idle(
    cp: LocalControlPlane,
    op: OperatorProcess,
    audit: Path,
    res: Result,
    t0: float,
    seconds: float,
    sampler: bk.Sampler,
) -> None:
    """Wait until the operator is quiet (empty queue, no write for 10 s), then measure."""

    def quiet() -> bool:
        before = op.writes()
        time.sleep(10)
        return op.writes() == before and op.total("supportbot_operator_queue_depth") == 0

    wait_for(quiet, 300, "the operator to go quiet", interval=0)
    res.converge_requests = bk.audit_counts(
        audit.read_text().splitlines(), SA_USER, t0, time.time()
    )
    writes0, rec0 = op.writes(), op.total("supportbot_operator_reconciles_total")
    by = ("verb", "resource")
    api0 = bk.request_totals(cp.kubectl("get", "--raw", "/metrics").stdout, by)
    cpu0, i0 = bk.proc_stats(op.proc.pid).cpu_seconds, time.time()
    time.sleep(seconds)
    i1 = time.time()
    res.idle_apiserver = bk.request_totals(cp.kubectl("get", "--raw", "/metrics").stdout, by) - api0
    res.op_cpu_idle = bk.proc_stats(op.proc.pid).cpu_seconds - cpu0
    res.idle_op_writes = op.writes() - writes0
    res.idle_reconciles = op.total("supportbot_operator_reconciles_total") - rec0
    time.sleep(2)  # the audit backend flushes the window's last events
    res.idle_requests = bk.audit_counts(audit.read_text().splitlines(), SA_USER, i0, i1)
    rss = sampler.between(i0, i1)
    res.rss_idle_mean, res.rss_idle_max = sum(rss) / max(len(rss), 1), max(rss, default=0.0)
    res.rss_peak = bk.proc_stats(op.proc.pid).peak_rss_mb
    res.reconciles = {
        r: op.total("supportbot_operator_reconciles_total", result=r)
        for r in ("applied", "unchanged", "held", "error")
    }


def run_size(n: int, args: argparse.Namespace, log: Any) -> Result:
    res, work = Result(n), Path(tempfile.mkdtemp(prefix=f"opbench-{n}-"))
    policy, audit = work / "audit-policy.yaml", work / "audit.log"
    policy.write_text(yaml.safe_dump(bk.audit_policy(SA_USER)))
    cp = AuditedControlPlane(policy, audit, full=True, workdir=work / "cp", log=log)
    op: OperatorProcess | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        cp.start()
        kubeconfig, bots = _prepare(cp, n)
        log(f"[{n}] inputs in place; starting the operator (work dir {work})")
        env = {"SUPPORTBOT_OPERATOR_RESYNC_SECONDS": str(args.resync), **dict(args.env)}
        op = OperatorProcess.start(kubeconfig=kubeconfig, log_path=work / "operator.log", env=env)
        sampler = bk.Sampler(op.proc.pid).start()
        time.sleep(3)
        res.rss_start = bk.proc_stats(op.proc.pid).rss_mb
        if args.profile:
            raw = work / "profile.raw"
            spy_bin = str(Path(sys.executable).parent / "py-spy")
            argv = [spy_bin, "record", "-p", str(op.proc.pid), "-r", "50", "-f", "raw"]
            argv += ["-o", str(raw)]
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        t0 = _converge(cp, op, bots, res, args.timeout)
        log(f"[{n}] created in {res.apply_s:.1f} s; Ready milestones (s) {res.ready}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            spy = None
            res.profile = (
                bk.profile_top(work / "profile.raw") if (work / "profile.raw").exists() else []
            )
        _idle(cp, op, audit, res, t0, args.idle, sampler)
        sampler.stop()
        return res
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        if op is not None:
            op.stop()
        cp.stop()


# --- report ---------------------------------------------------------------------------------
def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _verbs(c: Counter[str], top: int = 20) -> str:
    return ", ".join(f"{k}: {v}" for k, v in c.most_common(top)) or "none"


def render_report(results: list[Result], header: list[str], command: str) -> str:
    out = [f"# Operator scale benchmark {datetime.now(UTC):%Y-%m-%d}", ""]
    out += [f"- {line}" for line in [f"Command: `{command}`", *header]]
    out += [
        "- Setup: full local control plane (etcd, kube-apiserver, kube-controller-manager, "
        "kube-scheduler, KWOK with 2 fake nodes; Service IP range widened from the harness's "
        "/24 to /16, as every tenant has a Service); the operator runs as a local process with the "
        f"chart's ServiceAccount token (`{SA_USER}`, chart RBAC, cluster-wide). Per tenant one "
        "Secret (6 keys incl. the agent API's JWT secret) and one flow ConfigMap exist before "
        "the clock starts, spread over 10 namespaces; each SupportBot asks for 1 webhook + 1 "
        "worker pod (tiny requests) with the agent API on. Clock: from the first `kubectl "
        "create` of the SupportBots (4 parallel processes) until every SupportBot is Ready "
        "(operator metric, confirmed by listing them). Idle: after 10 s without operator "
        "writes, a window with a resync pass inside; requests counted from the apiserver's "
        "audit log of the operator's identity.",
        "",
        "## Results",
        "",
        "| tenants | create (s) | first Ready (s) | 50 % (s) | 90 % (s) | all Ready (s) | "
        "RSS start / peak / idle (MB) | operator CPU to Ready (s) | machine busy | "
        "idle requests | idle writes (audit / metric) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        out.append(
            f"| {r.tenants} | {r.apply_s:.1f} | {_s(r.ready.get('first'))} | "
            f"{_s(r.ready.get('50%'))} | {_s(r.ready.get('90%'))} | {_s(r.ready.get('100%'))} | "
            f"{r.rss_start:.0f} / {r.rss_peak:.0f} / {r.rss_idle_mean:.0f} | "
            f"{r.op_cpu_converge:.1f} | {r.machine_busy_pct:.0f} % | "
            f"{sum(r.idle_requests.values())} | {bk.writes_of(r.idle_requests)} / "
            f"{r.idle_op_writes:.0f} |"
        )
    big = max(results, key=lambda r: r.tenants)
    ready = big.ready.get("100%")
    out += ["", "## Goals", "", "| goal | measured | |", "|---|---|---|"]
    out.append(
        f"| {big.tenants} Ready <= {GOALS['ready_s']:.0f} s | {_s(ready)} s | "
        f"{'met' if ready is not None and ready <= GOALS['ready_s'] else '**missed**'} |"
    )
    peak = max(r.rss_peak for r in results)
    out.append(
        f"| RSS <= {GOALS['rss_mb']:.0f} MB | peak {peak:.0f} MB | "
        f"{'met' if peak <= GOALS['rss_mb'] else '**missed**'} |"
    )
    idle_w = max(max(bk.writes_of(r.idle_requests), int(r.idle_op_writes)) for r in results)
    out.append(f"| 0 writes while idle | {idle_w} | {'met' if idle_w == 0 else '**missed**'} |")
    for r in results:
        out += ["", f"## {r.tenants} tenants", ""]
        passes = ", ".join(f"{k} {v:.0f}" for k, v in r.reconciles.items())
        out.append(f"- Reconcile passes until idle, by result: {passes}.")
        out.append(
            f"- Operator requests from create to quiet ({sum(r.converge_requests.values())}, "
            f"{sum(r.converge_requests.values()) / r.tenants:.1f} per tenant): "
            f"{_verbs(r.converge_requests)}."
        )
        out.append(
            f"- Idle window: operator requests {_verbs(r.idle_requests)}; reconciles "
            f"{r.idle_reconciles:.0f}; operator CPU {r.op_cpu_idle:.2f} s; RSS mean "
            f"{r.rss_idle_mean:.0f} MB, max {r.rss_idle_max:.0f} MB."
        )
        out.append(
            f"- Idle window, apiserver_request_total delta (all clients, incl. KWOK node "
            f"heartbeats and controllers): {_verbs(r.idle_apiserver)}."
        )
        ours = sum(r.cp_cpu.values()) + r.op_cpu_converge
        out.append(
            f"- CPU budget from create to all Ready: the control plane + operator used "
            f"{ours:.0f} CPU-s, the whole machine {r.machine_busy_cpu_s:.0f} CPU-s "
            f"(so {max(r.machine_busy_cpu_s - ours, 0):.0f} CPU-s went to other processes) of "
            f"{(os.cpu_count() or 1) * (r.ready.get('100%') or 0):.0f} available."
        )
        out.append(
            "- CPU seconds from create to all Ready: "
            + ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.cp_cpu.items(), key=lambda kv: -kv[1]))
            + f", operator {r.op_cpu_converge:.1f}."
        )
        if r.profile:
            out.append(
                "- py-spy (operator, create to Ready), top self time: "
                + "; ".join(f"{frame} {pct:.1f} %" for frame, pct in r.profile)
            )
        out += [f"- Note: {note}" for note in r.notes]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--idle", type=float, default=60.0, help="idle window (s)")
    parser.add_argument("--resync", type=float, default=30.0, help="operator resync (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="max wait for Ready (s)")
    parser.add_argument("--profile", action="store_true", help="py-spy the operator")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        help="extra operator setting, e.g. SUPPORTBOT_OPERATOR_WORKERS=16",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args(argv)
    command = "python loadtests/operator_scale/bench_scale.py " + " ".join(sys.argv[1:])

    def log(msg: str) -> None:
        print(f"{datetime.now(UTC):%H:%M:%S} {msg}", flush=True)

    from supportbot_dev.binaries import ensure_binaries

    b = ensure_binaries(full=True)
    bins = {"kubernetes": b.kube_apiserver, "etcd": b.etcd, "kwok": b.kwok}
    header = bk.machine_description(
        {k: p.parent.name.split("-", 1)[-1] for k, p in bins.items() if p},
        ("kopf", "aiohttp", "pydantic", "prometheus-client"),
    )
    header.append(
        "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK, kubectl and the "
        "operator share these cores (with whatever else runs on the machine)."
    )
    results = []
    for n in args.tenants:
        log(f"=== {n} tenants")
        results.append(run_size(n, args, log))
        print(render_report(results[-1:], [], command).split("## Goals")[0])
    report = render_report(results, header, command)
    name = f"{datetime.now(UTC):%Y-%m-%d}-operator-scale{'-' + args.tag if args.tag else ''}.md"
    out = args.out or ROOT / "loadtests" / "results" / name
    out.write_text(report)
    print(report)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
