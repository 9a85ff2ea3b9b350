"""Measurement helpers for the operator's benchmark (`loadtests/operator_scale/`) and tests: a
process's RSS and CPU from /proc (sampled in a thread), the kube-apiserver's audit log of one
identity (which requests the operator made, by verb), and `apiserver_request_total`. Never
imported by the operator itself."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class ProcStats:
    rss_mb: float
    peak_rss_mb: float
    """VmHWM: the highest RSS the process ever had."""
    cpu_seconds: float


def proc_stats(pid: int) -> ProcStats:
    """RSS, peak RSS and CPU time (user + system) of a live Linux process."""
    kb: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            kb[key] = int(value.split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return ProcStats(kb["VmRSS"] / 1024, kb["VmHWM"] / 1024, cpu)


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


@dataclass
class Sampler:
    """Samples a process's RSS (MB) twice a second in a daemon thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        threading.Thread(target=self._run, daemon=True, name=f"sampler-{self.pid}").start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append((time.time(), proc_stats(self.pid).rss_mb))
            except (OSError, KeyError, IndexError):
                return

    def between(self, start: float, end: float) -> list[float]:
        return [rss for t, rss in self.samples if start <= t <= end]

    def stop(self) -> None:
        self._stop.set()


def audit_policy(user: str) -> dict[str, Any]:
    """Metadata-level audit of one identity, nothing else (negligible apiserver overhead)."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": [user]}, {"level": "None"}],
    }


def audit_args(policy: Path, log: Path) -> list[str]:
    """kube-apiserver flags for a JSON audit log with `policy`."""
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={log}",
        "--audit-log-format=json",
        "--audit-log-maxsize=0",
    ]


def audit_counts(lines: Iterable[str], user: str, start: float, end: float) -> Counter[str]:
    """'verb resource[/subresource]' -> requests by `user` received in [start, end) (epoch s).
    Long-running requests (watches) log several stages; each request counts once."""
    seen: dict[str, str] = {}
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("user", {}).get("username") != user or ev.get("auditID") in seen:
            continue
        received = datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if start <= received.timestamp() < end:
            ref = ev.get("objectRef") or {}
            resource = ref.get("resource") or ev.get("requestURI", "?").split("?")[0]
            sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
            seen[ev["auditID"]] = f"{ev['verb']} {resource}{sub}"
    return Counter(seen.values())


def writes_of(counts: Counter[str]) -> int:
    """How many of `audit_counts` were writes."""
    return sum(n for key, n in counts.items() if key.split(" ", 1)[0] in WRITE_VERBS)


def request_totals(metrics_text: str, by: tuple[str, ...] = ("verb",)) -> Counter[str]:
    """`apiserver_request_total` (every client) summed by the labels `by`, from /metrics."""
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                key = " ".join(sample.labels.get(label, "") for label in by).strip()
                out[key or "?"] += int(sample.value)
    return out


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig for the same cluster as `admin_kubeconfig` that authenticates with a bearer
    token (e.g. `kubectl create token <serviceaccount>`)."""
    import yaml

    cluster = yaml.safe_load(admin_kubeconfig.read_text())["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": cluster["name"], "user": "token"}}],
        "current-context": "token",
    }
    path.write_text(json.dumps(doc))
    return path


def profile_top(raw: Path, top: int = 15) -> list[tuple[str, float]]:
    """The hottest frames by self time (% of samples) in a `py-spy record -f raw` file."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stack.split(";")[-1]] += int(n)
    total = sum(counts.values()) or 1
    return [(frame, 100 * n / total) for frame, n in counts.most_common(top)]


def machine_description(tools: dict[str, str], packages: Iterable[str]) -> list[str]:
    """Lines for a results file: CPU, cores, memory, OS, Python, load now, tool and package
    versions."""
    from importlib import metadata

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    mem_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = [f"{k} {v}" for k, v in tools.items()]
    versions += [f"{p} {metadata.version(p)}" for p in packages]
    return [
        f"Machine: {cpu}, {os.cpu_count()} cores, {mem_gb:.1f} GB; {platform.platform()}; "
        f"Python {platform.python_version()}; load average at start {load}.",
        f"Versions: {', '.join(versions)}.",
    ]
