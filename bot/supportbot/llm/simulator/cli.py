"""`supportbot openrouter-sim`: run the OpenRouter simulator (uvicorn) for development and tests.

    supportbot openrouter-sim --port 8090 --latency uniform:2:10 --api-key dev \\
        --fault mode=unavailable,model=openai/gpt-4o-mini,count=5

Point the bot at it with SUPPORTBOT_OPENROUTER_BASE_URL=http://127.0.0.1:8090/api/v1. Faults and
latency can be changed at run time through the admin endpoints (see app.py).
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from supportbot.llm.simulator.app import SimState, create_app
from supportbot.llm.simulator.faults import MODES, FaultRule, Latency, SpecError
from supportbot.llm.simulator.replies import ModelInfo


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="supportbot openrouter-sim", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument(
        "--latency", default="fixed:0", help="fixed:S | uniform:MIN:MAX | normal:MEAN:SD"
    )
    p.add_argument(
        "--model-latency",
        action="append",
        default=[],
        metavar="MODEL=SPEC",
        help="latency for one model (repeatable)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="mode=M[,model=X][,count=N][,retry_after=S][,hang_seconds=S] (repeatable); "
        f"modes: {', '.join(MODES)}",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get("SUPPORTBOT_OPENROUTER_SIM_API_KEY"),
        help="required bearer token (default: any non-empty token; env "
        "SUPPORTBOT_OPENROUTER_SIM_API_KEY)",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ID",
        help="add a model id to the catalogue (repeatable)",
    )
    p.add_argument("--strict-models", action="store_true", help="reject unknown model ids (400)")
    p.add_argument("--seed", type=int, default=0, help="random seed for latency sampling")
    p.add_argument("--log-level", default="info")
    return p


def build_state(args: argparse.Namespace) -> SimState:
    state = SimState(
        latency=Latency.parse(args.latency),
        model_latency={
            m: Latency.parse(s) for m, _, s in (item.partition("=") for item in args.model_latency)
        },
        faults=[FaultRule.parse(spec) for spec in args.fault],
        api_key=args.api_key or None,
        strict_models=args.strict_models,
        seed=args.seed,
    )
    for model in args.model:
        state.catalogue.setdefault(model, ModelInfo(model))
    return state


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        state = build_state(args)
    except (SpecError, ValueError) as exc:
        print(f"openrouter-sim: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(state),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
