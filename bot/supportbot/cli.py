"""`supportbot` command: one entry point, sub-commands implemented by their own modules.

Each sub-command module exposes ``main(argv: list[str]) -> int``; it is imported only when used,
so `supportbot migrate` does not pay for FastAPI and `supportbot webhook` not for the simulators.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "webhook": ("supportbot.webhook.server", "run the tenant's webhook (FastAPI/uvicorn)"),
    "worker": ("supportbot.queueing.main", "run the tenant's worker (concurrent rq turns)"),
    "migrate": ("supportbot.storage.cli", "apply database migrations (also: export, retention)"),
    "storage": ("supportbot.storage.cli", "history tools: export, retention, seed, reset"),
    "flow": ("supportbot.flow.cli", "validate / inspect a conversation flow file"),
    "msg91-sim": ("supportbot.msg91.simulator.cli", "run the MSG91 simulator"),
    "meta-sim": ("supportbot.meta.simulator.cli", "run the Meta WhatsApp Cloud API simulator"),
    "openrouter-sim": ("supportbot.llm.simulator.cli", "run the OpenRouter simulator"),
    "agent-token": ("supportbot.agentapi.cli", "mint an agent-API bearer token (HS256 JWT)"),
    "deadletters": (
        "supportbot.queueing.deadletters_cli",
        "list, show, replay or drop the tenant's dead-lettered turns",
    ),
    "notifications": (
        "supportbot.notify.cli",
        "list the tenant's handoff notifications; resend failed ones",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name.ljust(width)}  {desc}" for name, (_, desc) in COMMANDS.items()]
    return "usage: supportbot <command> [options]\n\ncommands:\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] in {"--version", "version"}:
        from importlib import metadata

        print(f"supportbot {metadata.version('supportbot')}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"supportbot: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if name == "migrate":
        rest = ["migrate", *rest]
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
