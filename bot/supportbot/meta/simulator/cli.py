"""``supportbot meta-sim``: run the Meta WhatsApp Cloud API simulator (uvicorn, loopback).

Secrets can come from the environment instead of flags: ``SUPPORTBOT_META_SIM_ACCESS_TOKENS``
(comma-separated), ``SUPPORTBOT_META_SIM_APP_SECRET``, ``SUPPORTBOT_META_SIM_VERIFY_TOKEN``.
"""
# (This docstring is the --help text.) Common options and the uvicorn start: supportbot.simkit.cli

from __future__ import annotations

import argparse
import logging
import os

from supportbot.meta.simulator.app import create_app
from supportbot.meta.simulator.config import WEBHOOK_PATH, MetaSimConfig
from supportbot.simkit import cli as simkit


def _phone_number(value: str) -> tuple[str, str]:
    number_id, sep, display = value.partition("=")
    if not number_id.isdigit() or (sep and not display.isdigit()):
        raise argparse.ArgumentTypeError("expected PHONE_NUMBER_ID[=DISPLAY_NUMBER] (digits)")
    return number_id, display or number_id


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="supportbot meta-sim", description=__doc__)
    simkit.add_bind_options(p, port=9092)
    p.add_argument("--access-token", action="append", default=[], help="accepted token (repeat)")
    p.add_argument(
        "--phone-number",
        type=_phone_number,
        action="append",
        default=[],
        metavar="ID[=DISPLAY]",
        help="business phone number id and its display number (repeat)",
    )
    p.add_argument("--app-secret", default=os.environ.get("SUPPORTBOT_META_SIM_APP_SECRET"))
    p.add_argument("--verify-token", default=os.environ.get("SUPPORTBOT_META_SIM_VERIFY_TOKEN"))
    p.add_argument("--bot-url", help=f"bot base URL: webhooks go to {WEBHOOK_PATH}")
    p.add_argument("--webhook-url", help="the exact callback URL (overrides --bot-url)")
    p.add_argument("--window", choices=["off", "status", "sync"], default="status")
    p.add_argument("--status-final", choices=["none", "sent", "delivered", "read"], default="read")
    p.add_argument("--status-delay-ms", type=float, default=20.0)
    p.add_argument("--retry-after", type=float, help="Retry-After seconds on throughput errors")
    simkit.add_webhook_options(p)
    simkit.add_log_option(p)
    return p


def config_from_args(args: argparse.Namespace) -> MetaSimConfig:
    tokens = simkit.with_env_list(args.access_token, "SUPPORTBOT_META_SIM_ACCESS_TOKENS")
    url = args.webhook_url or (args.bot_url.rstrip("/") + WEBHOOK_PATH if args.bot_url else None)
    return MetaSimConfig(
        access_tokens=tokens,
        phone_numbers=dict(args.phone_number),
        app_secret=args.app_secret,
        verify_token=args.verify_token,
        webhook_url=url,
        window=args.window,
        status_final=args.status_final,
        status_delay_ms=args.status_delay_ms,
        retry_after=args.retry_after,
        **simkit.webhook_config(args),
    )


def main(argv: list[str]) -> int:
    return simkit.run(
        argv,
        parser(),
        config_from_args,
        lambda config, args: create_app(config),
        label="Meta simulator",
        logger=logging.getLogger(__name__),
    )
