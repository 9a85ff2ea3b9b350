"""Closed-loop req/s of a webhook endpoint with wrk (C, cheap on a shared 2-core box), plus a
py-spy profile of a process under that load, summarised into hot spots.

Every wrk request carries a unique message id and customer number (a Lua counter per thread), so
the webhook does its full work (dedupe miss, archive, throttle count, inbox, drain job) instead
of answering duplicates.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.webhooks import flat_inbound

LUA = r"""
local counter = 0
local template = [==[%(template)s]==]
local headers = {["Content-Type"] = "application/json", ["%(header)s"] = "%(secret)s"}
function setup(thread)
  nthreads = (nthreads or 0) + 1
  thread:set("tid", nthreads)
end
request = function()
  counter = counter + 1
  local n = (tid or 0) * 10000000 + counter
  local body = template:gsub("__PHONE__", string.format("9197%%08d", n %% 100000000))
  body = body:gsub("__N__", "%(run)s" .. tostring(n))
  return wrk.format("POST", "%(path)s", headers, body)
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian: apt-get install -y wrk)."""


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency_ms: dict[str, float]
    output: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "req_per_s": self.requests_per_second,
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "wrk_output": self.output,
            **{f"{k}_ms": v for k, v in self.latency_ms.items()},
        }


def lua_script(number: str, secret: str, header: str, run: str, path: str) -> str:
    spec = InboundSpec(phone="__PHONE__", name="Bench", type="text", text="where is my parcel")
    payload = flat_inbound(
        spec, number, "wamid.WRK__N__", "__N__", 1_779_000_000, ts_format="iso", placeholders=True
    )
    template = json.dumps(payload, separators=(",", ":"))
    return LUA % {
        "template": template,
        "header": header,
        "secret": secret,
        "run": run,
        "path": path,
    }


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if match is None:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    latency = {
        f"p{q}": _ms(v) for q, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)
    }
    avg = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if avg:
        latency["mean"] = _ms(avg.group(1))
        latency["max"] = _ms(avg.group(3))
    return WrkResult(
        requests_per_second=float(rps.group(1)) if rps else 0.0,
        requests=int(total.group(1)) if total else 0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        latency_ms=latency,
        output=output,
    )


def run_wrk(url: str, script: str, connections: int, seconds: float, threads: int = 2) -> WrkResult:
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissing("wrk not found: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    argv = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s"]
    argv += ["--latency", "-s", f.name, url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    Path(f.name).unlink(missing_ok=True)
    return parse_wrk(out.stdout)


# --- profiles -------------------------------------------------------------------------------
def _tool(name: str) -> str | None:
    """A tool on PATH or installed beside this Python (.venv/bin)."""
    beside = Path(sys.executable).with_name(name)
    return shutil.which(name) or (str(beside) if beside.exists() else None)


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    binary = _tool("py-spy")
    if binary is None:
        return None
    argv = [binary, "record", "--pid", str(pid), "--duration", f"{seconds:.0f}", "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*)(?::\d+)?\)$")


def _area(path: str) -> str:
    """A readable owner of a source file: package name or our module path."""
    for marker in ("site-packages/", "/bot/", "lib/python3.11/"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            parts = rest.split("/")
            if marker == "/bot/":
                return "/".join(parts[:3]).removesuffix(".py")
            return parts[0].removesuffix(".py")
    return path.rsplit("/", 1)[-1] or "?"


def summarise_profile(raw: str, top: int = 15) -> dict[str, Any]:
    """Self time by function and by package/module, inclusive time by function (shares)."""
    self_fn: Counter[str] = Counter()
    self_area: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        names = []
        for frame in frames:
            m = _FRAME.match(frame.strip())
            fn, path = (m.group("func"), m.group("file")) if m else (frame, "")
            names.append((f"{fn} ({_area(path)})", _area(path)))
        leaf, area = names[-1]
        self_fn[leaf] += n
        self_area[area] += n
        for name in {nm for nm, _ in names}:
            incl[name] += n

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "self_by_function": share(self_fn),
        "self_by_area": share(self_area),
        "inclusive_by_function": share(incl),
    }
