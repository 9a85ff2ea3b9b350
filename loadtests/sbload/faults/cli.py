"""Command line of the fault suite: run the faults, write the results table (Markdown + JSON).

python loadtests/faults.py                          # the full suite (make faults)
python loadtests/faults.py --short                  # ~5 minutes; exit 1 on any failing row
python loadtests/faults.py --faults pg-down,nul-text --customers 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import supportbot
from sbload.faults import report
from sbload.faults.plan import FULL, KINDS, SHORT, PlanError, Suite, select
from sbload.faults.runner import run_fault
from sbload.faults.table import FaultRow, exit_code, failed_row, render_row, row_to_dict
from sbload.runner import machine_info

RESULTS = Path(__file__).resolve().parents[2] / "results"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadtests/faults.py", description=__doc__.split("\n")[0])
    p.add_argument("--short", action="store_true", help="the short suite (CI, ~5 minutes)")
    p.add_argument("--faults", help=f"comma-separated subset of {','.join(KINDS)}")
    p.add_argument("--customers", type=int, help="override the suite's customer count")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--tag", default="", help="suffix of the result file names")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def result_name(day: str, suite: Suite, full_selection: bool, tag: str) -> str:
    """``<date>-faults`` (+ ``-short``, ``-partial`` for a subset, ``-<tag>``)."""
    name = f"{day}-faults"
    if suite.name != "full":
        name += f"-{suite.name}"
    if not full_selection:
        name += "-partial"
    return name + (f"-{tag}" if tag else "")


def _commit() -> str:
    res = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    )
    return res.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = SHORT if args.short else FULL
    try:
        suite = select(base, args.faults, args.customers)
    except PlanError as exc:
        print(f"loadtests/faults.py: {exc}", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    name = result_name(
        started.strftime("%Y-%m-%d"), suite, len(suite.faults) == len(base.faults), args.tag
    )
    workdir = Path(tempfile.mkdtemp(prefix="sbfaults-"))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    given = argv if argv is not None else sys.argv[1:]
    doc: dict[str, Any] = {
        "name": name,
        "started": started.isoformat(timespec="seconds"),
        "command": "python loadtests/faults.py " + " ".join(shlex.quote(a) for a in given),
        "commit": _commit(),
        "bot_code": str(Path(supportbot.__file__).parent),
        "suite": asdict(suite),
        "machine": machine_info(),
        "workdir": str(workdir),
        "rows": [],
        "runs": {},
    }
    log(f"fault suite {name}: {', '.join(f.label for f in suite.faults)}; logs in {workdir}")
    rows: list[FaultRow] = []
    for fault in suite.faults:
        began = time.time()
        try:
            row, details = run_fault(suite.load, fault, workdir, log, args.quiet)
        except Exception as exc:  # the failure is part of the result
            row, details = failed_row(fault, f"{type(exc).__name__}: {exc}"), {}
        details["wall_seconds"] = time.time() - began
        rows.append(row)
        doc["rows"].append(row_to_dict(row))
        doc["runs"][row.fault] = details
        log(f"[{fault.label}] {'pass' if row.ok else 'FAIL'} in {details['wall_seconds']:.0f} s")
        log(render_row(row))
    doc["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{name}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    md_path = args.out / f"{name}.md"
    md_path.write_text(report.render(doc))
    log(f"wrote {md_path} and {json_path}")
    return exit_code(rows)
