"""What the ``supportbot <name>-sim`` commands of the WhatsApp simulators share: the common
options (bind address, webhook retries, record bound, log level), secrets read from a
comma-separated environment variable, and the start of the app under uvicorn.

Each simulator keeps its own parser (its flags, defaults and help) and config builder.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from supportbot.observability import configure_logging

ConfigT = TypeVar("ConfigT")


def add_bind_options(p: argparse.ArgumentParser, *, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=port)


def add_webhook_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook-retries", type=int, default=2)
    p.add_argument("--max-records", type=int, default=100_000)


def webhook_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields of `add_webhook_options`."""
    return {"webhook_retries": args.webhook_retries, "max_records": args.max_records}


def add_log_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def with_env_list(values: list[str], variable: str) -> list[str]:
    """`values` plus the comma-separated items of the environment `variable` (secrets kept off
    the command line)."""
    extra = os.environ.get(variable, "")
    return [*values, *(v.strip() for v in extra.split(",") if v.strip())]


def run(
    argv: list[str],
    parser: argparse.ArgumentParser,
    config_from_args: Callable[[argparse.Namespace], ConfigT],
    create_app: Callable[[ConfigT, argparse.Namespace], FastAPI],
    *,
    label: str,
    logger: logging.Logger,
) -> int:
    """Parse `argv`, build the config (a ValueError: printed, exit 2) and the app, and serve it
    until stopped; the start-up line "`label` listening" goes to `logger`."""
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"{parser.prog}: {exc}")
        return 2
    app = create_app(config, args)
    logger.info(f"{label} listening", extra={"host": args.host, "port": args.port})
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        log_config=None,
    )
    return 0
