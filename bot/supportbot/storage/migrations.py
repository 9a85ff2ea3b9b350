"""Versioned SQL migrations shipped in ``supportbot/storage/sql/NNNN_name.sql``.

`migrate` is safe to run concurrently and repeatedly (operator init containers and Jobs): it holds
a PostgreSQL session advisory lock for the whole run, records each applied file in
``schema_migrations`` (version, name, sha256 checksum) in the same transaction as the file's SQL,
and refuses to continue when an applied file's checksum differs from the shipped one. Applied
versions the code does not know (the database is ahead of this image, e.g. after a rollback) are
reported, not treated as errors.

Writing a migration: add ``NNNN_name.sql`` (next number) and never edit a released one. Each file
runs inside one transaction, so it must not contain BEGIN/COMMIT or statements that cannot run in
a transaction (CREATE INDEX CONCURRENTLY); add any new table to `OWNED_TABLES`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources

import asyncpg

from supportbot.storage.errors import (
    ChecksumMismatchError,
    MigrationError,
    MigrationLockTimeoutError,
)

# pg advisory lock key: a fixed 64-bit number ("supportbot" in ASCII, truncated), so every
# replica and every version of the migrator contends for the same lock.
LOCK_KEY = 0x73_75_70_70_6F_72_74_62
DEFAULT_LOCK_TIMEOUT_SECONDS = 300.0

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Every table the migrations create, newest first: `reset` drops exactly these (a database shared
# with other applications keeps its own tables). Tests check this covers the migrated schema.
OWNED_TABLES = (
    "csat_surveys",
    "handoff_notification_attempts",
    "handoff_notifications",
    "raw_webhooks",
    "delivery_attempts",
    "turns",
    "unmatched_delivery_states",
    "messages",
    "conversations",
    "schema_migrations",
)

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


@dataclass(slots=True)
class MigrationReport:
    applied: list[Migration] = field(default_factory=list)
    already_applied: list[int] = field(default_factory=list)
    unknown_applied: list[int] = field(default_factory=list)
    """Versions in the database that this code does not ship (the database is ahead)."""

    @property
    def current_version(self) -> int:
        versions = [m.version for m in self.applied] + self.already_applied + self.unknown_applied
        return max(versions, default=0)


def checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def parse_migrations(files: dict[str, str]) -> list[Migration]:
    """File name -> SQL text, to migrations ordered by version. Pure; validates names."""
    found: dict[int, Migration] = {}
    for filename, sql in files.items():
        match = _FILE_RE.match(filename)
        if match is None:
            raise MigrationError(f"bad migration file name {filename!r} (want NNNN_name.sql)")
        version = int(match.group(1))
        if version == 0:
            raise MigrationError(f"{filename}: versions start at 0001")
        if version in found:
            raise MigrationError(f"two migration files have version {version:04d}")
        found[version] = Migration(version, match.group(2), sql, checksum(sql))
    ordered = [found[v] for v in sorted(found)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration versions must be contiguous: {expected:04d} missing")
    return ordered


def load_migrations() -> list[Migration]:
    """The migrations shipped inside the package (as package data)."""
    folder = resources.files("supportbot.storage") / "sql"
    files = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    }
    if not files:
        raise MigrationError("no migration files shipped in supportbot/storage/sql")
    return parse_migrations(files)


def plan(
    migrations: list[Migration], applied: dict[int, str]
) -> tuple[list[Migration], MigrationReport]:
    """Decide what to apply given the ledger (version -> checksum). Pure.

    Raises ChecksumMismatchError when a shipped file differs from what was applied.
    """
    report = MigrationReport()
    pending: list[Migration] = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is None:
            pending.append(migration)
        elif recorded != migration.checksum:
            raise ChecksumMismatchError(
                migration.version, migration.name, recorded, migration.checksum
            )
        else:
            report.already_applied.append(migration.version)
    shipped = {m.version for m in migrations}
    report.unknown_applied = sorted(v for v in applied if v not in shipped)
    return pending, report


async def _lock(conn: asyncpg.Connection[asyncpg.Record], wait_seconds: float) -> None:
    """Take the session advisory lock, waiting in the server (visible in pg_locks) at most
    `wait_seconds`."""
    await conn.execute(f"SET lock_timeout = '{int(wait_seconds * 1000)}ms'")
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    except asyncpg.exceptions.LockNotAvailableError:
        raise MigrationLockTimeoutError(
            f"another migrator held the migration lock for more than {wait_seconds:g} s"
        ) from None
    finally:
        await conn.execute("SET lock_timeout = 0")


async def _ledger(conn: asyncpg.Connection[asyncpg.Record]) -> dict[int, str]:
    await conn.execute(_CREATE_LEDGER)
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {int(r["version"]): str(r["checksum"]) for r in rows}


async def apply_migrations(
    conn: asyncpg.Connection[asyncpg.Record],
    migrations: list[Migration] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> MigrationReport:
    """Apply every pending migration on `conn`, each in its own transaction, under the lock."""
    wanted = load_migrations() if migrations is None else migrations
    await _lock(conn, lock_timeout)
    try:
        pending, report = plan(wanted, await _ledger(conn))
        for migration in pending:
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"migration {migration.version:04d} ({migration.name}) failed: {exc}"
                ) from exc
            report.applied.append(migration)
        return report
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def migrate(
    database_url: str,
    migrations: list[Migration] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> MigrationReport:
    """Connect, apply pending migrations, disconnect."""
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn, migrations, lock_timeout=lock_timeout)
    finally:
        await conn.close()


async def reset(
    database_url: str,
    migrations: list[Migration] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
) -> MigrationReport:
    """Drop every table the migrations own (all history!) and migrate again, under the lock."""
    conn = await asyncpg.connect(database_url)
    try:
        await _lock(conn, lock_timeout)
        try:
            async with conn.transaction():
                for table in OWNED_TABLES:
                    await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        return await apply_migrations(conn, migrations, lock_timeout=lock_timeout)
    finally:
        await conn.close()


async def applied_versions(database_url: str) -> dict[int, str]:
    """version -> checksum from the ledger ({} when the database was never migrated)."""
    conn = await asyncpg.connect(database_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not exists:
            return {}
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        return {int(r["version"]): str(r["checksum"]) for r in rows}
    finally:
        await conn.close()
