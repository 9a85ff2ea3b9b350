"""`supportbot migrate` and `supportbot storage {migrate,status,seed,reset,export,retention}`.

The dispatcher calls `main(["migrate", *ARGS])` for `supportbot migrate ARGS` and `main(ARGS)` for
`supportbot storage ARGS`. The database URL comes from ``--database-url``, else the bot settings
(`load_settings()`), else ``SUPPORTBOT_DATABASE_URL``/``DATABASE_URL`` alone, so `migrate` runs in
an init container or Job without the rest of the bot's configuration. The URL is never printed.
Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

import asyncpg

from supportbot.settings import BotSettings, SettingsError, load_settings
from supportbot.storage import migrations
from supportbot.storage.db import create_pool
from supportbot.storage.errors import StorageError
from supportbot.storage.export import ExportFormat, export
from supportbot.storage.retention import apply_retention
from supportbot.storage.seed import seed_demo

_RELATIVE = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class CliError(Exception):
    """A problem to report in one line, exit code 1."""


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """'2026-05-01', '2026-05-01T10:00:00+05:30' (naive = UTC) or relative '7d'/'12h'/'30m'."""
    match = _RELATIVE.match(text.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date/time or a relative age like 7d, 12h, 30m"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _settings() -> tuple[BotSettings | None, SettingsError | None]:
    try:
        return load_settings(), None
    except SettingsError as exc:
        return None, exc


def resolve_database_url(flag: str | None, environ: dict[str, str] | None = None) -> str:
    if flag:
        return flag
    settings, problem = _settings()
    if settings is not None:
        return settings.database_url
    env = os.environ if environ is None else environ
    for name in ("SUPPORTBOT_DATABASE_URL", "DATABASE_URL"):
        if env.get(name):
            return env[name]
    raise CliError(f"no database URL: pass --database-url or set the bot settings ({problem})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot storage", description="Conversation-history database tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--database-url", help="PostgreSQL URL (default: from the bot settings)")
        return p

    p = command("migrate", "apply pending schema migrations (safe to run concurrently)")
    p.add_argument("--lock-timeout", type=float, default=migrations.DEFAULT_LOCK_TIMEOUT_SECONDS)
    command("status", "show applied and pending migrations")
    p = command("seed", "insert demo conversations (idempotent)")
    p.add_argument("--tenant", default="demo")
    p = command("reset", "DROP all history tables and migrate again")
    p.add_argument("--yes", action="store_true", help="confirm that all history is deleted")
    p = command("export", "export a tenant's conversations")
    p.add_argument("--tenant", required=True)
    p.add_argument("--customer", help="only this customer id")
    p.add_argument("--format", choices=[f.value for f in ExportFormat], required=True)
    p.add_argument("--since", type=parse_when, help="ISO date/time or age (7d, 12h, 30m)")
    p.add_argument("--until", type=parse_when, help="ISO date/time or age (exclusive)")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p = command("retention", "delete history older than N days")
    p.add_argument("--days", type=int, help="default: settings.history_retention_days")
    p.add_argument("--tenant", help="default: settings.tenant_id")
    return parser


async def _migrate(url: str, lock_timeout: float) -> None:
    report = await migrations.migrate(url, lock_timeout=lock_timeout)
    for m in report.applied:
        print(f"applied {m.version:04d}_{m.name} (sha256 {m.checksum[:12]})")
    if report.unknown_applied:
        listed = ", ".join(f"{v:04d}" for v in report.unknown_applied)
        print(f"note: the database has migrations this version does not ship: {listed}")
    if not report.applied:
        print(f"database schema is up to date (version {report.current_version})")


async def _status(url: str) -> None:
    applied = await migrations.applied_versions(url)
    for m in migrations.load_migrations():
        recorded = applied.get(m.version)
        state = (
            "pending"
            if recorded is None
            else ("applied" if recorded == m.checksum else "CHANGED since applied")
        )
        print(f"{m.version:04d}_{m.name}: {state}")


async def _with_pool_export(url: str, args: argparse.Namespace, out: TextIO) -> int:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        return await export(
            pool,
            args.tenant,
            out,
            ExportFormat(args.format),
            customer_id=args.customer,
            since=args.since,
            until=args.until,
        )
    finally:
        await pool.close()


async def _seed(url: str, tenant: str) -> None:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        report = await seed_demo(pool, tenant)
    finally:
        await pool.close()
    print(
        f"seeded tenant {tenant}: {report.conversations} conversations, "
        f"{report.new_messages} new messages"
    )


async def _retention(url: str, tenant: str, days: int) -> None:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        report = await apply_retention(pool, tenant, days)
    finally:
        await pool.close()
    counts = ", ".join(f"{table} {n}" for table, n in report.deleted.items())
    print(f"retention {days} d for {tenant} (before {report.cutoff.isoformat()}): deleted {counts}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "reset" and not args.yes:
        print("refusing to reset without --yes (this deletes ALL history)", file=sys.stderr)
        return 1
    url = resolve_database_url(args.database_url)
    if args.command == "migrate":
        asyncio.run(_migrate(url, args.lock_timeout))
    elif args.command == "status":
        asyncio.run(_status(url))
    elif args.command == "seed":
        asyncio.run(_seed(url, args.tenant))
    elif args.command == "reset":
        report = asyncio.run(migrations.reset(url))
        print(f"database reset; schema at version {report.current_version}")
    elif args.command == "export":
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = asyncio.run(_with_pool_export(url, args, out))
        else:
            count = asyncio.run(_with_pool_export(url, args, sys.stdout))
        print(f"exported {count} messages", file=sys.stderr)
    elif args.command == "retention":
        settings, problem = _settings()
        days = args.days or (settings.history_retention_days if settings else None)
        tenant = args.tenant or (settings.tenant_id if settings else None)
        if days is None or tenant is None:
            raise CliError(f"pass --days and --tenant or set the bot settings ({problem})")
        asyncio.run(_retention(url, tenant, days))
    return 0


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return _run(args)
    except (CliError, StorageError, ValueError, OSError, asyncpg.PostgresError) as exc:
        print(f"supportbot storage {args.command}: error: {exc}", file=sys.stderr)
        return 1
