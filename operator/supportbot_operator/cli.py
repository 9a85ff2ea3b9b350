"""`supportbot-operator`: run the operator, keep the chart's CRD in sync, render a SupportBot
offline.

    supportbot-operator run            kopf run -m supportbot_operator.handlers, flags from
                                       SUPPORTBOT_OPERATOR_* (namespaces, logs); HA is the
                                       operator's own Lease election, so kopf runs standalone
    supportbot-operator crd sync|check write / verify the chart's generated CRD copy
    supportbot-operator render FILE    print the children of a SupportBot YAML (no cluster)
    supportbot-operator selftest       the chart's `helm test` checks (see `selftest`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from supportbot_operator import crdsync, inputs, render, spec
from supportbot_operator.errors import OperatorError
from supportbot_operator.settings import OperatorSettings


def kopf_args(settings: OperatorSettings) -> list[str]:
    """The `kopf run` command line for these settings (module mode, never file mode)."""
    # Never kopf peering: HA is leader election on a Lease (`leader`), and the probes are the
    # operator's own (`health`), so kopf's --liveness is not passed either.
    args = ["run", "-m", "supportbot_operator.handlers", f"--log-format={settings.log_format}"]
    args.append("--standalone")
    if settings.namespaces:
        args += [f"--namespace={ns}" for ns in settings.namespaces]
    else:
        args.append("--all-namespaces")
    if settings.verbose:
        args.append("--verbose")
    return args


def _run() -> int:
    import kopf.cli

    # click's standalone mode ends the process with kopf's exit code.
    kopf.cli.main.main(args=kopf_args(OperatorSettings()), prog_name="supportbot-operator")
    raise AssertionError("unreachable: click exits")  # pragma: no cover


def _render(path: Path, flow: Path | None) -> int:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "SupportBot"]
    flow_text = flow.read_text() if flow else "version: 1\n"
    out = []
    for body in docs:
        body.setdefault("metadata", {}).setdefault("namespace", "default")
        body["metadata"].setdefault("uid", "00000000-0000-0000-0000-000000000000")
        bot = spec.parse(body)
        given = render.Inputs(flow_text, inputs.flow_hash(flow_text), "offline")
        out.extend(render.render_children(bot, given, OperatorSettings()))
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportbot-operator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the operator (kopf)")
    crd = sub.add_parser("crd", help="manage the chart's CRD copy")
    crd.add_argument("action", choices=["sync", "check"])
    rnd = sub.add_parser("render", help="render a SupportBot's children offline")
    rnd.add_argument("file", type=Path)
    rnd.add_argument("--flow", type=Path, help="flow YAML to embed (default: a stub)")
    sub.add_parser("selftest", help="check an installed release (the chart's helm test)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "run":
            return _run()
        if args.command == "selftest":
            from supportbot_operator import selftest

            return selftest.main()
        if args.command == "crd":
            if args.action == "sync":
                print(f"wrote {crdsync.sync()}")
            else:
                crdsync.check()
                print("chart CRD is up to date")
            return 0
        return _render(args.file, args.flow)
    except (OperatorError, crdsync.CrdSyncError) as exc:
        print(f"supportbot-operator: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
