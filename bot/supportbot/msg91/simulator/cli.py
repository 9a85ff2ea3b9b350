"""``supportbot msg91-sim``: run the MSG91 simulator (uvicorn, loopback by default).

Secrets can come from the environment instead of flags: ``SUPPORTBOT_SIM_AUTH_KEYS``
(comma-separated) and ``SUPPORTBOT_SIM_WEBHOOK_SECRET``.
"""
# (This docstring is the --help text.) Common options and the uvicorn start: supportbot.simkit.cli

from __future__ import annotations

import argparse
import logging
import os

from supportbot.msg91.simulator.app import create_app
from supportbot.msg91.simulator.config import Route, SimConfig
from supportbot.simkit import cli as simkit


def _latency(value: str) -> tuple[float, float]:
    low, _, high = value.partition(":")
    return float(low), float(high or low)


def _template(value: str) -> tuple[str, int]:
    name, sep, count = value.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME[:LANG]=PARAM_COUNT")
    return name, int(count)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="supportbot msg91-sim", description=__doc__)
    simkit.add_bind_options(p, port=9091)
    p.add_argument("--auth-key", action="append", default=[], help="accepted authkey (repeat)")
    p.add_argument("--number", action="append", default=[], help="integrated number (repeat)")
    p.add_argument(
        "--bot-url", help="bot base URL: webhooks go to /webhooks/msg91/{inbound,status}"
    )
    p.add_argument("--inbound-url", help="override the inbound webhook URL")
    p.add_argument("--status-url", help="override the delivery-report webhook URL")
    p.add_argument("--webhook-secret", default=os.environ.get("SUPPORTBOT_SIM_WEBHOOK_SECRET"))
    p.add_argument("--webhook-secret-header", default="X-Webhook-Secret")
    p.add_argument("--webhook-format", choices=["msg91", "meta"], default="msg91")
    p.add_argument("--ts-format", choices=["iso", "epoch", "epoch_ms"], default="iso")
    p.add_argument("--no-placeholders", action="store_true", help='unfilled fields as ""')
    p.add_argument("--latency-ms", type=_latency, default=(0.0, 0.0), metavar="MIN[:MAX]")
    p.add_argument("--rate-429", type=float, default=0.0, help="probability of a 429")
    p.add_argument("--rate-5xx", type=float, default=0.0, help="probability of a 5xx")
    p.add_argument("--retry-after", type=float, help="Retry-After seconds on 429s")
    p.add_argument("--max-per-window", type=int, help="accepted sends per number per window")
    p.add_argument("--rate-window", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--dlr-final", choices=["none", "sent", "delivered", "read"], default="read")
    p.add_argument("--dlr-delay-ms", type=float, default=20.0)
    p.add_argument("--dlr-order", choices=["in_order", "reverse", "shuffle"], default="in_order")
    p.add_argument("--dlr-duplicates", type=int, default=0)
    p.add_argument("--enforce-window", action="store_true", help="24 h window -> DLR 131047")
    p.add_argument(
        "--template",
        type=_template,
        action="append",
        default=[],
        metavar="NAME[:LANG]=PARAMS",
        help="approved template and its body parameter count (repeat)",
    )
    simkit.add_webhook_options(p)
    p.add_argument("--seed", type=int, help="seed of random faults / shuffles")
    simkit.add_log_option(p)
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    keys = simkit.with_env_list(args.auth_key, "SUPPORTBOT_SIM_AUTH_KEYS")
    route = Route(secret=args.webhook_secret, secret_header=args.webhook_secret_header)
    if args.bot_url:
        route = Route.for_bot(args.bot_url, args.webhook_secret, args.webhook_secret_header)
    if args.inbound_url:
        route.inbound_url = args.inbound_url
    if args.status_url:
        route.status_url = args.status_url
    return SimConfig(
        auth_keys=keys,
        numbers=[n.removeprefix("+") for n in args.number],
        default_route=route,
        webhook_format=args.webhook_format,
        ts_format=args.ts_format,
        placeholders=not args.no_placeholders,
        latency_ms=args.latency_ms,
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        retry_after=args.retry_after,
        max_per_window=args.max_per_window,
        rate_window_seconds=args.rate_window,
        dlr_final=args.dlr_final,
        dlr_delay_ms=args.dlr_delay_ms,
        dlr_order=args.dlr_order,
        dlr_duplicates=args.dlr_duplicates,
        enforce_window=args.enforce_window,
        templates=dict(args.template),
        **simkit.webhook_config(args),
    )


def main(argv: list[str]) -> int:
    return simkit.run(
        argv,
        parser(),
        config_from_args,
        lambda config, args: create_app(config, seed=args.seed),
        label="MSG91 simulator",
        logger=logging.getLogger(__name__),
    )
