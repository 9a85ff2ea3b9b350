"""`supportbot webhook`: run the tenant's webhook app under uvicorn (uvloop + httptools).

Settings come from the environment (`load_settings`); bad settings print the problem and exit 2.
uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish (bounded by
``--graceful-timeout``), runs the app's shutdown (closing the Redis pool), then re-raises the
signal as uvicorn does since 0.29, so the process exits by that signal (status 143 for SIGTERM,
which Kubernetes treats as a normal stop); `main` returns 1 only if the server failed to start.
In-flight
connections are capped (``--limit-concurrency``): beyond the cap uvicorn answers 503 at once, which
providers retry, instead of letting latency grow into provider time-outs.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from supportbot.observability import configure_logging
from supportbot.settings import SettingsError, load_settings
from supportbot.webhook.app import create_app

log = logging.getLogger(__name__)

DEFAULT_GRACEFUL_SECONDS = 10.0


def default_limit_concurrency(redis_max_connections: int) -> int:
    """Connections + in-flight requests uvicorn admits: a few per pooled Redis connection.

    Webhook POSTs share one pipelined Redis connection (`queueing.pipelined`), so the pool
    (readiness checks) does not bound them; this cap keeps latency bounded under overload.
    """
    return max(64, 4 * redis_max_connections)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot webhook", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="bind address (default 0.0.0.0)")  # noqa: S104
    parser.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        help="max concurrent connections/requests before 503 (default: 4 x Redis pool, >= 64)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=DEFAULT_GRACEFUL_SECONDS,
        help="seconds to let in-flight requests finish on shutdown",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    limit = args.limit_concurrency or default_limit_concurrency(settings.redis_max_connections)
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The webhook never reads the client address: no X-Forwarded-For middleware per request.
        proxy_headers=False,
        limit_concurrency=limit,
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    server = uvicorn.Server(config)
    log.info(
        "starting webhook",
        extra={"host": args.host, "port": settings.port, "limit_concurrency": limit},
    )
    server.run()
    return 0 if server.started else 1
