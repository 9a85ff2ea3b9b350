"""Migrations: apply, re-apply, concurrent runs, checksum tamper, reset, CLI."""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg
import pytest

from supportbot.storage import migrations
from supportbot.storage.cli import main
from supportbot.storage.errors import (
    ChecksumMismatchError,
    MigrationError,
    MigrationLockTimeoutError,
)
from supportbot.storage.migrations import Migration, checksum


async def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _tables(url: str) -> set[str]:
    rows = await _fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


def _extra(version: int, sql: str, name: str = "extra") -> Migration:
    return Migration(version, name, sql, checksum(sql))


def test_shipped_migrations_are_package_data() -> None:
    shipped = migrations.load_migrations()
    assert [m.version for m in shipped][0] == 1
    assert shipped[0].name == "init"
    assert "CREATE TABLE conversations" in shipped[0].sql


async def test_migrate_creates_the_schema_and_records_it(database_url: str) -> None:
    report = await migrations.migrate(database_url)
    assert [m.version for m in report.applied] == [m.version for m in migrations.load_migrations()]
    # reset drops exactly what the migrations create
    assert await _tables(database_url) == set(migrations.OWNED_TABLES)
    ledger = await _fetch(database_url, "SELECT version, checksum FROM schema_migrations")
    assert {(r["version"], r["checksum"]) for r in ledger} == {
        (m.version, m.checksum) for m in migrations.load_migrations()
    }


async def test_reapplying_is_a_no_op(database_url: str) -> None:
    await migrations.migrate(database_url)
    before = await _fetch(database_url, "SELECT version, applied_at FROM schema_migrations")
    again = await migrations.migrate(database_url)
    shipped = [m.version for m in migrations.load_migrations()]
    assert again.applied == []
    assert again.already_applied == shipped
    assert again.current_version == shipped[-1]
    after = await _fetch(database_url, "SELECT version, applied_at FROM schema_migrations")
    assert before == after


async def test_a_new_migration_is_applied_on_top(database_url: str) -> None:
    shipped = migrations.load_migrations()
    await migrations.migrate(database_url, shipped)
    nxt = shipped[-1].version + 1
    extra = _extra(nxt, "CREATE TABLE extra_notes (id int PRIMARY KEY);")
    report = await migrations.migrate(database_url, [*shipped, extra])
    assert [m.version for m in report.applied] == [nxt]
    assert "extra_notes" in await _tables(database_url)


async def test_a_failing_migration_leaves_no_trace(database_url: str) -> None:
    shipped = migrations.load_migrations()
    nxt = shipped[-1].version + 1
    broken = _extra(nxt, "CREATE TABLE half_done (id int); SELECT 1 / 0;")
    with pytest.raises(MigrationError, match=f"{nxt:04d}"):
        await migrations.migrate(database_url, [*shipped, broken])
    assert "half_done" not in await _tables(database_url)
    versions = await _fetch(database_url, "SELECT version FROM schema_migrations ORDER BY version")
    # the shipped ones committed before the broken one failed
    assert [r["version"] for r in versions] == [m.version for m in shipped]


async def test_changed_applied_file_is_refused(database_url: str) -> None:
    shipped = migrations.load_migrations()
    await migrations.migrate(database_url, shipped)
    edited_sql = shipped[0].sql + "\n-- edited after release\n"
    edited = Migration(1, shipped[0].name, edited_sql, checksum(edited_sql))
    later = _extra(shipped[-1].version + 1, "CREATE TABLE never_created (id int);")
    with pytest.raises(ChecksumMismatchError) as info:
        await migrations.migrate(database_url, [edited, *shipped[1:], later])
    assert info.value.version == 1
    assert "never_created" not in await _tables(database_url), "nothing runs after a mismatch"


def test_tampered_ledger_is_refused_by_the_cli(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", database_url]) == 0

    async def tamper() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE schema_migrations SET checksum = 'abc123' WHERE version = 1")
        finally:
            await conn.close()

    asyncio.run(tamper())
    capsys.readouterr()
    assert main(["migrate", "--database-url", database_url]) == 1
    err = capsys.readouterr().err
    assert "0001" in err and "checksum" in err
    assert main(["status", "--database-url", database_url]) == 0
    assert "0001_init: CHANGED since applied" in capsys.readouterr().out


async def test_versions_unknown_to_this_code_are_reported(database_url: str) -> None:
    shipped = migrations.load_migrations()
    nxt = shipped[-1].version + 1
    await migrations.migrate(database_url, [*shipped, _extra(nxt, "SELECT 1;")])
    report = await migrations.migrate(database_url, shipped)  # an older image
    assert report.applied == []
    assert report.unknown_applied == [nxt]


def test_parse_rejects_bad_names_gaps_and_duplicates() -> None:
    with pytest.raises(MigrationError, match="bad migration file name"):
        migrations.parse_migrations({"1_init.sql": ""})
    with pytest.raises(MigrationError, match="0002 missing"):
        migrations.parse_migrations({"0001_a.sql": "", "0003_c.sql": ""})
    with pytest.raises(MigrationError, match="start at 0001"):
        migrations.parse_migrations({"0000_a.sql": ""})
    ordered = migrations.parse_migrations({"0002_b.sql": "2", "0001_a.sql": "1"})
    assert [(m.version, m.name) for m in ordered] == [(1, "a"), (2, "b")]


async def _waiting_advisory_locks(conn: asyncpg.Connection[asyncpg.Record]) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    )
    return int(value)


async def test_two_concurrent_migrate_processes_apply_once(database_url: str) -> None:
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrations.LOCK_KEY)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "supportbot.cli",
                "migrate",
                "--database-url",
                database_url,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while await _waiting_advisory_locks(holder) < 2:
            assert time.monotonic() < deadline, "both migrators should be waiting on the lock"
            assert all(p.returncode is None for p in procs)
            await asyncio.sleep(0.05)
        await holder.execute("SELECT pg_advisory_unlock($1)", migrations.LOCK_KEY)
        results = [await p.communicate() for p in procs]
    finally:
        await holder.close()
    assert [p.returncode for p in procs] == [0, 0], results
    outs = sorted(out.decode() for out, _ in results)
    assert sum("applied 0001_init" in o for o in outs) == 1, outs
    shipped = [m.version for m in migrations.load_migrations()]
    assert sum(f"up to date (version {shipped[-1]})" in o for o in outs) == 1, outs
    rows = await _fetch(database_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == shipped


async def test_lock_wait_is_bounded(database_url: str) -> None:
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrations.LOCK_KEY)
        with pytest.raises(MigrationLockTimeoutError):
            await migrations.migrate(database_url, lock_timeout=0.3)
    finally:
        await holder.close()
    assert "schema_migrations" not in await _tables(database_url)


def test_reset_needs_yes_and_drops_only_owned_tables(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", database_url]) == 0

    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("CREATE TABLE someone_elses (id int)")
            await conn.execute(
                "INSERT INTO conversations (tenant_id, customer_id) VALUES ('a', '1')"
            )
        finally:
            await conn.close()

    asyncio.run(prepare())
    assert main(["reset", "--database-url", database_url]) == 1
    assert "--yes" in capsys.readouterr().err
    count = asyncio.run(_fetch(database_url, "SELECT count(*) AS n FROM conversations"))
    assert count[0]["n"] == 1, "no reset without --yes"

    assert main(["reset", "--yes", "--database-url", database_url]) == 0
    latest = migrations.load_migrations()[-1].version
    assert f"version {latest}" in capsys.readouterr().out
    count = asyncio.run(_fetch(database_url, "SELECT count(*) AS n FROM conversations"))
    assert count[0]["n"] == 0
    assert asyncio.run(_tables(database_url)) == {*migrations.OWNED_TABLES, "someone_elses"}


def test_cli_without_any_database_url_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SUPPORTBOT_DATABASE_URL", "DATABASE_URL", "SUPPORTBOT_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["migrate"]) == 1
    assert "--database-url" in capsys.readouterr().err


def test_cli_reads_the_database_url_from_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPPORTBOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "applied 0001_init" in out
    assert database_url not in out


def test_usage_errors_exit_2() -> None:
    assert main(["export", "--format", "xml"]) == 2
    assert main(["bogus"]) == 2
