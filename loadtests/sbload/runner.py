"""Command line of the load test: run the scenario's phases, write JSON + Markdown + PNG plots.

python loadtests/run.py --scenario loadtests/scenarios/default.yaml
python loadtests/run.py --scenario ... --phases customers --customers 200 --handler echo
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from sbload import phases, report, seedphases
from sbload.scenario import HANDLERS, KNOWN_PHASES, SYSTEMS, Scenario, load_scenario, validate

RESULTS = Path(__file__).resolve().parent.parent / "results"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadtests/run.py", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", type=Path, required=True)
    p.add_argument("--phases", help=f"comma-separated subset of {','.join(KNOWN_PHASES)}")
    p.add_argument(
        "--systems",
        help=f"the `seed` phase's systems, comma-separated subset of {','.join(SYSTEMS)}",
    )
    p.add_argument("--customers", type=int, help="override the scenario's customer count")
    p.add_argument("--handler", choices=HANDLERS, help="override the worker's turn handler")
    p.add_argument("--duration", type=float, help="override duration_seconds")
    p.add_argument("--llm-latency", help="override llm_latency, e.g. uniform:2:10 or fixed:0")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--tag", default="", help="suffix of the result file names")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    return p


def apply_overrides(sc: Scenario, args: argparse.Namespace) -> Scenario:
    changes: dict[str, Any] = {}
    if args.phases:
        changes["phases"] = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if args.customers:
        changes["customers"] = args.customers
    if args.handler:
        changes["handler"] = args.handler
    if args.duration:
        changes["duration_seconds"] = args.duration
    if args.llm_latency:
        changes["llm_latency"] = args.llm_latency
    if args.systems:
        systems = tuple(x.strip() for x in args.systems.split(",") if x.strip())
        changes["seedstack"] = replace(sc.seedstack, systems=systems)
    return validate(replace(sc, **changes))


def machine_info() -> dict[str, Any]:
    import psutil

    from supportbot_dev.redis_server import redis_binary

    versions: dict[str, str] = {}
    for pkg in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "redis",
        "hiredis",
        "rq",
        "httpx",
        "asyncpg",
        "pydantic",
    ):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = "?"
    import subprocess

    redis_version = subprocess.run(
        [redis_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": list(psutil.getloadavg()),
        "redis": redis_version,
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sc = apply_overrides(load_scenario(args.scenario), args)
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y-%m-%d")
    name = f"{stamp}-{sc.name}{'-' + args.tag if args.tag else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sbload-"))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = "python loadtests/run.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    doc: dict[str, Any] = {
        "name": name,
        "started": started.isoformat(timespec="seconds"),
        "command": command,
        "scenario": asdict(sc),
        "machine": machine_info(),
        "phases": {},
        "workdir": str(workdir),
    }
    log(f"load test {name}: phases {', '.join(sc.phases)}; logs in {workdir}")
    runners = {
        "ack": lambda: phases.ack_phase(sc, workdir, log),
        "customers": lambda: phases.customers_phase(sc, workdir, log, args.quiet),
        "inflight": lambda: phases.inflight_phase(sc, workdir, log, args.quiet),
        "naive": lambda: phases.naive_phase(sc, workdir, log, args.quiet),
        "overhead": lambda: phases.overhead_phase(sc, workdir, log, args.quiet),
        "seed": lambda: seedphases.seed_phase(sc, workdir, log, args.quiet),
    }
    for phase in sc.phases:
        t = time.time()
        try:
            doc["phases"][phase] = runners[phase]()
        except Exception as exc:  # report what ran; the failure is part of the result
            log(f"[{phase}] FAILED: {type(exc).__name__}: {exc}")
            doc["phases"][phase] = {"failed": f"{type(exc).__name__}: {exc}"}
        doc["phases"][phase]["wall_seconds"] = time.time() - t
    doc["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    json_path = args.out / f"{name}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str, allow_nan=True))
    md_path = report.write(doc, args.out, name)
    log(f"wrote {md_path} and {json_path}")
    verdicts = [p["verdict"] for k, p in doc["phases"].items() if k != "naive" and "verdict" in p]
    # The seed phase reports the seed stack's ledger (reordering is expected there: its design
    # does not promise per-customer order); only a failed part fails the run.
    seed = doc["phases"].get("seed", {})
    failed_parts = [k for k, v in seed.items() if isinstance(v, dict) and "failed" in v]
    failed = [k for k, p in doc["phases"].items() if "failed" in p]
    bad = [v for v in verdicts if v["lost"] or v["duplicated"] or v["reordered"]]
    return 1 if failed or bad or failed_parts else 0
