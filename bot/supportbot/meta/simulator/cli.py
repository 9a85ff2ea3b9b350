"""``supportbot meta-sim``: run the Meta WhatsApp Cloud API simulator (uvicorn, loopback).

Secrets can come from the environment instead of flags: ``SUPPORTBOT_META_SIM_ACCESS_TOKENS``
(comma-separated), ``SUPPORTBOT_META_SIM_APP_SECRET``, ``SUPPORTBOT_META_SIM_VERIFY_TOKEN``.
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from supportbot.meta.simulator.app import create_app
from supportbot.meta.simulator.config import WEBHOOK_PATH, MetaSimConfig
from supportbot.observability import configure_logging


def _phone_number(value: str) -> tuple[str, str]:
    number_id, sep, display = value.partition("=")
    if not number_id.isdigit() or (sep and not display.isdigit()):
        raise argparse.ArgumentTypeError("expected PHONE_NUMBER_ID[=DISPLAY_NUMBER] (digits)")
    return number_id, display or number_id


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="supportbot meta-sim", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9092)
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
    p.add_argument("--webhook-retries", type=int, default=2)
    p.add_argument("--max-records", type=int, default=100_000)
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def config_from_args(args: argparse.Namespace) -> MetaSimConfig:
    tokens = list(args.access_token)
    env_tokens = os.environ.get("SUPPORTBOT_META_SIM_ACCESS_TOKENS", "")
    tokens += [t.strip() for t in env_tokens.split(",") if t.strip()]
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
        webhook_retries=args.webhook_retries,
        max_records=args.max_records,
    )


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"supportbot meta-sim: {exc}")
        return 2
    app = create_app(config)
    logging.getLogger(__name__).info(
        "Meta simulator listening", extra={"host": args.host, "port": args.port}
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        log_config=None,
    )
    return 0
