"""`supportbot webhook`: run the tenant's webhook app under uvicorn (uvloop + httptools).

Settings come from the environment (`load_settings`); bad settings print the problem and exit 2.
uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight requests finish (bounded by
``--graceful-timeout``), runs the app's shutdown (closing the Redis pool), then re-raises the
signal as uvicorn does since 0.29, so the process exits by that signal (status 143 for SIGTERM,
which Kubernetes treats as a normal stop); `main` returns 1 only if the server failed to start.

Connections are served by `supportbot.webhook.protocol` (uvicorn's httptools protocol with
deadlines), so idle and slow clients cannot starve providers (defaults in
`supportbot.webhook.connections`):

- ``--header-timeout`` (10 s): a connection that has not sent a whole request head this long
  after opening, or after the first byte of its next kept-alive request, is closed (408 if it
  sent anything), however slowly the bytes trickle; idle time between requests is uvicorn's
  keep-alive (5 s);
- ``--request-timeout`` (20 s): the same for the whole request, body included (408);
- ``--limit-concurrency`` (4 x Redis pool, >= 64): requests being handled at once; beyond it a
  request is answered 503 with ``Retry-After: 1`` at once, which providers retry, instead of
  letting latency grow into provider time-outs. Idle connections do not count;
- ``--limit-connections`` (10,000): open connections; at the cap each new connection closes the
  one that has waited longest without a request being handled. The soft open-file limit is
  raised to fit (the cap is lowered if the hard limit is too small).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

import uvicorn

from supportbot.observability import configure_logging
from supportbot.settings import SettingsError, load_settings
from supportbot.webhook.app import create_app
from supportbot.webhook.connections import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    FD_RESERVE,
    ConnectionLimits,
    default_max_requests,
    raise_nofile_limit,
)
from supportbot.webhook.protocol import protocol_class

log = logging.getLogger(__name__)

DEFAULT_GRACEFUL_SECONDS = 10.0
LISTEN_BACKLOG = 2048
"""uvicorn's default; as many connections may be accepted in one burst, so they are reserved."""

default_limit_concurrency = default_max_requests
"""The ``--limit-concurrency`` default (the load tests size their baseline with it)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot webhook",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="0.0.0.0", help="bind address (default 0.0.0.0)")  # noqa: S104
    parser.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        help="max requests handled at once before 503 (default: 4 x Redis pool, >= 64)",
    )
    parser.add_argument(
        "--limit-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="max open connections; past it the longest-idle are closed (default %(default)s)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        help="seconds to receive a request head (default %(default)s)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_REQUEST_TIMEOUT,
        help="seconds to receive a whole request, body included (default %(default)s)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=DEFAULT_GRACEFUL_SECONDS,
        help="seconds to let in-flight requests finish on shutdown",
    )
    return parser


def connection_limits(args: argparse.Namespace, redis_max_connections: int) -> ConnectionLimits:
    """The limits the flags ask for (ValueError if inconsistent), before the open-file check."""
    return ConnectionLimits(
        header_timeout=args.header_timeout,
        request_timeout=args.request_timeout,
        max_requests=args.limit_concurrency or default_max_requests(redis_max_connections),
        max_connections=args.limit_connections,
    )


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        limits = connection_limits(args, settings.redis_max_connections)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(settings.log_level)
    fitting = raise_nofile_limit(limits.max_connections, LISTEN_BACKLOG + FD_RESERVE)
    limits = dataclasses.replace(limits, max_connections=fitting)
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_class(limits),
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The webhook never reads the client address: no X-Forwarded-For middleware per request.
        proxy_headers=False,
        # Off: it counts connections. The protocol caps requests and connections separately.
        limit_concurrency=None,
        backlog=LISTEN_BACKLOG,
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    server = uvicorn.Server(config)
    log.info(
        "starting webhook",
        extra={"host": args.host, "port": settings.port, **dataclasses.asdict(limits)},
    )
    server.run()
    return 0 if server.started else 1
