"""`supportbot worker`: run the tenant's asyncio worker with a pluggable turn handler.

    supportbot worker [--handler module:factory] [--metrics-addr ADDR] [--no-metrics]

Settings come from the SUPPORTBOT_* environment (exit 2 when invalid). Prometheus metrics are
served on `metrics_port`. SIGTERM drains gracefully (see `worker`); a second signal hands back
unfinished turns at once.
"""

from __future__ import annotations

import argparse
import logging
import sys

import redis.asyncio as aioredis
import uvloop

from supportbot.observability import configure_logging
from supportbot.queueing import health
from supportbot.queueing.handler_factory import (
    DEFAULT_HANDLER,
    HandlerFactory,
    HandlerSpecError,
    load_factory,
)
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.worker import AsyncWorker
from supportbot.settings import BotSettings, SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot worker", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--handler", default=DEFAULT_HANDLER, help=f"module:factory (default {DEFAULT_HANDLER})"
    )
    parser.add_argument("--metrics-addr", default="0.0.0.0", help="metrics bind address")  # noqa: S104
    parser.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    return parser


MAX_POOL = 1024


def redis_pool_size(settings: BotSettings) -> int:
    """Connections of the worker's shared Redis pool.

    Every in-flight turn may wait on Redis (mailbox scripts, sessions, plans, send claims and the
    rate limiter), so the pool grows with `worker_concurrency`: one connection per four turns
    (each holds one only for a round trip) plus room for the blocking readers (dequeue,
    delivery-report consumer, archiver), never below `redis_max_connections`. A smaller pool made
    every Redis call queue for a connection under load. Lease renewals do not depend on it: the
    lease keeper has its own connection.
    """
    wanted = settings.worker_concurrency // 4 + 16
    return max(settings.redis_max_connections, min(wanted, MAX_POOL))


async def run_worker(
    settings: BotSettings, factory: HandlerFactory, metrics: WorkerMetrics
) -> None:
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=redis_pool_size(settings), timeout=20
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        async with factory(settings, client) as handler:
            await AsyncWorker(settings, client, handler, metrics).run()
    finally:
        await client.aclose()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.log_level != "DEBUG":
        for name in ("rq.worker", "rq.job", "rq.queue", "rq.registry"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        factory = load_factory(args.handler)
    except HandlerSpecError as exc:
        print(f"supportbot worker: {exc}", file=sys.stderr)
        return 2
    metrics = WorkerMetrics()
    if not args.no_metrics:
        health.serve(
            metrics,
            port=settings.metrics_port,
            addr=args.metrics_addr,
            max_heartbeat_age=health.max_heartbeat_age(settings),
        )
    # uvloop: the worker is loop-bound (thousands of sockets and timers); the webhook uses it too.
    uvloop.run(run_worker(settings, factory, metrics))
    return 0
