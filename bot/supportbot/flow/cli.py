"""`supportbot flow validate FILE...` and `supportbot flow show FILE`.

`validate` exits 0 when every file is valid and 1 otherwise, printing ``FILE:line N: field:
problem`` lines on stderr; the operator runs it before rolling out a new flow ConfigMap. The
URLs of HTTP steps are also checked against the allow-list given with `--http-allow-host`
(repeatable) or, without it, `SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS` when that is set.
`show` prints a short summary (steps, menus, intents, LLM, business hours) of a valid flow.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection
from pathlib import Path

from supportbot.flow.schema import Flow
from supportbot.flow.validation import FlowError, parse_flow_text


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


ALLOW_HOSTS_ENV = "SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS"


def _allow_hosts(given: list[str] | None) -> list[str] | None:
    if given:
        return [h.strip() for item in given for h in item.split(",") if h.strip()]
    env = os.environ.get(ALLOW_HOSTS_ENV)
    return None if env is None else [h.strip() for h in env.split(",") if h.strip()]


def _validate(files: list[str], allow_hosts: Collection[str] | None = None) -> int:
    failed = 0
    for name in files:
        try:
            loaded = parse_flow_text(_read(name), allow_hosts)
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            failed += 1
        except FlowError as exc:
            for error in exc.errors:
                print(f"{name}:{error}", file=sys.stderr)
            failed += 1
        else:
            print(f"{name}: ok ({loaded.flow.name}, sha256 {loaded.sha256[:12]})")
    return 1 if failed else 0


def summary(flow: Flow, sha256: str) -> str:
    """Human-readable overview of a flow."""
    lines = [f"flow {flow.name!r} (version {flow.version}, sha256 {sha256[:12]})"]
    if flow.description:
        lines.append(f"  {flow.description.strip()}")
    lines.append(f"start: {flow.start}   greeting: {'yes' if flow.greeting else 'no'}")
    lines.append(f"steps ({len(flow.steps)}):")
    for name, step in flow.steps.items():
        if step.buttons:
            what = "buttons: " + ", ".join(
                f"{b.title} -> {b.goto or b.action}" for b in step.buttons
            )
        elif step.list:
            rows = [r for s in step.list.sections for r in s.rows]
            what = f"list ({len(rows)} rows): " + ", ".join(
                f"{r.id} -> {r.goto or r.action}" for r in rows
            )
        elif step.ask:
            what = f"ask {step.ask.slot}" + (f" /{step.ask.pattern}/" if step.ask.pattern else "")
            what += f" -> {step.next or 'rest'}"
        elif step.http:
            branches = ", ".join(
                f"{b.removeprefix('on_')} -> {getattr(step.http, b)}"
                for b in ("on_success", "on_not_found", "on_error", "on_timeout")
                if getattr(step.http, b)
            )
            what = f"http {step.http.method} {step.http.url} ({branches or 'fallback'})"
        elif step.action:
            what = f"action {step.action}"
        else:
            what = f"text -> {step.next or 'rest'}"
        lines.append(f"  {name}: {what}")
    lines.append(f"intents ({len(flow.intents)}): " + ", ".join(i.id for i in flow.intents))
    if flow.llm:
        lines.append(
            f"llm: system prompt {len(flow.llm.system_prompt)} chars, "
            f"{len(flow.llm.knowledge)} knowledge snippet(s)"
        )
    else:
        lines.append("llm: off")
    lines.append("handoff keywords: " + ", ".join(flow.handoff.keywords))
    lines.append(
        "opt-out: "
        + ", ".join(flow.opt_out.keywords)
        + " / opt-in: "
        + ", ".join(flow.opt_out.opt_in_keywords)
    )
    hours = flow.business_hours
    if hours:
        days = ", ".join(f"{d} {' '.join(w)}" for d, w in hours.schedule.items())
        lines.append(f"business hours ({hours.timezone}, applies to {hours.applies_to}): {days}")
    return "\n".join(lines)


def _show(path: str) -> int:
    try:
        loaded = parse_flow_text(_read(path))
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    except FlowError as exc:
        for error in exc.errors:
            print(f"{path}:{error}", file=sys.stderr)
        return 1
    print(summary(loaded.flow, loaded.sha256))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="supportbot flow", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="validate flow files (exit 1 on errors)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--http-allow-host",
        action="append",
        metavar="HOST[:PORT]",
        help="host HTTP steps may reach over http or at a private address "
        f"(default: ${ALLOW_HOSTS_ENV})",
    )
    show = sub.add_parser("show", help="summarise a flow file")
    show.add_argument("file", metavar="FILE")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.files, _allow_hosts(args.http_allow_host))
    return _show(args.file)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
