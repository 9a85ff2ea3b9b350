"""Dead letters an operator can act on: `supportbot deadletters list|show|replay|drop|count` and
the `deadletters` functions behind it, on a real Redis with records written by the real DEAD
script (and, end to end, by the real worker failing a turn)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import Turn
from supportbot.queueing import deadletters
from supportbot.queueing.adapters import jobhash
from supportbot.queueing.adapters.pipelined import PipelinedRedis
from supportbot.queueing.deadletters import DeadLetter, DeadLetterError
from supportbot.queueing.deadletters_cli import main as cli
from supportbot.queueing.entries import decode_entry
from supportbot.queueing.ingest import Ingestor
from supportbot.queueing.mailbox import Mailbox
from supportbot.queueing.metrics import WorkerMetrics
from supportbot.queueing.testing import (
    TENANT,
    background_worker,
    make_message,
    settings_env,
    wait_until,
)
from supportbot.settings import BotSettings

SettingsFactory = Callable[..., BotSettings]
ALICE = "919870000001"
BOB = "919870000002"
_SEQ = itertools.count()


async def dead_letter_turn(
    r: aioredis.Redis,
    pipeline: PipelinedRedis,
    settings: BotSettings,
    customer: str,
    texts: list[str],
    reason: str,
) -> None:
    """Ingest `texts` as one turn of `customer` and dead-letter it with the real scripts."""
    ingestor, mailbox = Ingestor(r, settings, pipeline=pipeline), Mailbox(r, settings)
    ref = keyspace.conversation_ref(customer)
    for text in texts:
        await ingestor.accept(make_message(customer, next(_SEQ), text=text), b"{}")
    job = as_str(await r.get(keyspace.conversation_keys(TENANT, ref).lease)).removeprefix("q:")
    token = f"r:{job}:1"
    await mailbox.acquire(ref, job, token)
    await mailbox.claim(ref, token, 50)
    assert await mailbox.dead_letter(ref, token, job, reason) == 0


def as_str(value: bytes | str | None) -> str:
    assert value is not None
    return value.decode() if isinstance(value, bytes) else value


async def inbox_texts(r: aioredis.Redis, customer: str) -> list[str | None]:
    inbox = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(customer)).inbox
    return [decode_entry(e).text for e in await r.lrange(inbox, 0, -1)]


async def run_cli(redis_url: str, *argv: str) -> int:
    """`supportbot deadletters ARGV` in-process (its own event loop, in a thread)."""
    return await asyncio.to_thread(cli, list(argv), settings_env(redis_url))


# --- list / show / count ----------------------------------------------------------------------


async def test_list_shows_reason_newest_first_with_the_phone_masked(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    await dead_letter_turn(
        aredis, pipelined, settings, ALICE, ["hi", "order 42?"], "ValueError: bad order"
    )
    await dead_letter_turn(
        aredis, pipelined, settings, BOB, ["hello"], f"KeyError: {BOB} not found"
    )
    alice, bob = reversed(await deadletters.read_all(aredis, TENANT))

    assert await run_cli(redis_url, "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == deadletters.LIST_HEADER
    assert [line.split()[0] for line in out[1:]] == [bob.id, alice.id], "newest first"
    assert "91******0001" in out[2] and "ValueError: bad order" in out[2]
    assert "KeyError: 91******0002 not found" in out[1], "phones in reasons are masked too"
    assert ALICE not in "\n".join(out) and BOB not in "\n".join(out)

    assert await run_cli(redis_url, "list", "--customer", f"+{ALICE}", "--json") == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["id"] == alice.id and record["customer_id"] == ALICE
    assert record["reason"] == "ValueError: bad order" and record["attempts"] == 1
    assert [m["text"] for m in record["messages"]] == ["hi", "order 42?"]
    assert record["message_ids"] == list(alice.message_ids)
    assert all(str(i).startswith(f"wamid.{ALICE}.") for i in alice.message_ids)
    assert record["tenant"] == TENANT and record["failed_at"] > 0

    assert await run_cli(redis_url, "count") == 0
    assert capsys.readouterr().out.strip() == "2"


async def test_show_prints_the_messages_and_an_unknown_id_is_exit_3(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await dead_letter_turn(
        aredis, pipelined, make_settings(), ALICE, ["call me at 919812345678"], "boom"
    )
    [letter] = await deadletters.read_all(aredis, TENANT)

    assert await run_cli(redis_url, "show", letter.id[:6]) == 0
    out = capsys.readouterr().out
    assert f"dead letter {letter.id} (tenant {TENANT})" in out
    assert "reason        boom" in out and "after 1 attempt(s)" in out
    assert f"1. {letter.message_ids[0]}  text" in out and "'call me at 91******5678'" in out

    assert await run_cli(redis_url, "show", "ffffffff") == 3
    assert "no dead letter 'ffffffff'" in capsys.readouterr().err
    assert await run_cli(redis_url, "show", "ab") == 3
    assert "too short" in capsys.readouterr().err


async def test_no_dead_letters_is_not_an_error(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli(redis_url, "list") == 0
    assert capsys.readouterr().out.strip() == "no dead letters"
    assert await run_cli(redis_url, "replay", "--all") == 0
    assert "replayed 0 dead letter(s)" in capsys.readouterr().out


# --- replay ----------------------------------------------------------------------------------


async def test_replay_puts_the_turn_back_in_front_in_order_and_enqueues_a_drain(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    await dead_letter_turn(aredis, pipelined, settings, ALICE, ["one", "two"], "boom")
    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(ALICE))
    assert not await aredis.exists(conv.lease) and not await aredis.sismember(
        keyspace.active_key(TENANT), conv.ref
    ), "a dead-lettered conversation is idle"
    queue = jobhash.queue_key(settings.queue_name)
    jobs_before = await aredis.lrange(queue, 0, -1)

    report = await deadletters.replay(aredis, settings, await deadletters.read_all(aredis, TENANT))

    assert report == deadletters.ReplayReport(records=1, messages=2, drains=1)
    assert await inbox_texts(aredis, ALICE) == ["one", "two"]
    assert await deadletters.count(aredis, TENANT) == 0
    assert await aredis.sismember(keyspace.active_key(TENANT), conv.ref)
    [new_job] = [as_str(j) for j in await aredis.lrange(queue, 0, -1) if j not in jobs_before]
    assert as_str(await aredis.get(conv.lease)) == f"q:{new_job}"
    assert await aredis.hget(f"rq:job:{new_job}", "status") == b"queued"


async def test_replay_goes_ahead_of_newer_messages_and_leaves_a_live_drain_alone(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    await dead_letter_turn(aredis, pipelined, settings, ALICE, ["old-1"], "first failure")
    await dead_letter_turn(aredis, pipelined, settings, ALICE, ["old-2", "old-3"], "second failure")
    await Ingestor(aredis, settings, pipeline=pipelined).accept(
        make_message(ALICE, 99, text="new"), b"{}"
    )
    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(ALICE))
    lease = await aredis.get(conv.lease)

    report = await deadletters.replay(aredis, settings, await deadletters.read_all(aredis, TENANT))

    assert report == deadletters.ReplayReport(records=2, messages=3, drains=0)
    assert await inbox_texts(aredis, ALICE) == ["old-1", "old-2", "old-3", "new"]
    assert await aredis.get(conv.lease) == lease, "the queued drain takes them"


async def test_replaying_twice_never_duplicates_a_message(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    await dead_letter_turn(aredis, pipelined, settings, ALICE, ["one", "two"], "boom")
    [letter] = await deadletters.read_all(aredis, TENANT)

    assert await run_cli(redis_url, "replay", letter.id) == 0
    assert "replayed 1 dead letter(s): 2 message(s) back" in capsys.readouterr().out
    assert await run_cli(redis_url, "replay", letter.id) == 3, "it is gone"
    assert "already replayed or dropped" in capsys.readouterr().err
    assert await inbox_texts(aredis, ALICE) == ["one", "two"]

    # a stale copy of the record (say, restored from a backup), replayed while a drain is
    # running the turn: the messages are not added again
    conv = keyspace.conversation_keys(TENANT, keyspace.conversation_ref(ALICE))
    job = as_str(await aredis.get(conv.lease)).removeprefix("q:")
    mailbox, token = Mailbox(aredis, settings), f"r:{job}:1"
    await mailbox.acquire(conv.ref, job, token)
    await mailbox.claim(conv.ref, token, 50)
    await aredis.lpush(keyspace.dead_letter_key(TENANT), letter.raw)
    again = await deadletters.replay(aredis, settings, [letter])
    assert again == deadletters.ReplayReport(records=1, messages=0, duplicates=2)
    assert await inbox_texts(aredis, ALICE) == [] and await aredis.llen(conv.processing) == 2
    assert await aredis.get(conv.lease) == token.encode(), "the running drain keeps it"
    assert await deadletters.count(aredis, TENANT) == 0

    # two operators replaying at once: the script runs once for the record
    await dead_letter_turn(aredis, pipelined, settings, BOB, ["hello"], "boom")
    [bobs] = await deadletters.read_all(aredis, TENANT)
    reports = await asyncio.gather(
        *(deadletters.replay(aredis, settings, [bobs]) for _ in range(2))
    )
    assert sorted(r.records for r in reports) == [0, 1]
    assert sorted(r.missing for r in reports) == [0, 1]
    assert await inbox_texts(aredis, BOB) == ["hello"]


# --- drop ------------------------------------------------------------------------------------


async def test_drop_needs_yes_and_removes_one_or_all(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings()
    for n in range(3):
        await dead_letter_turn(
            aredis, pipelined, settings, ALICE if n < 2 else BOB, [f"m{n}"], f"r{n}"
        )
    newest, middle, oldest = await deadletters.read_all(aredis, TENANT)

    assert await run_cli(redis_url, "drop", middle.id) == 1
    assert "without --yes" in capsys.readouterr().err
    assert await deadletters.count(aredis, TENANT) == 3

    assert await run_cli(redis_url, "drop", middle.id, "--yes") == 0
    assert "dropped 1 dead letter(s)" in capsys.readouterr().out
    assert [x.id for x in await deadletters.read_all(aredis, TENANT)] == [newest.id, oldest.id]
    assert await run_cli(redis_url, "drop", middle.id, "--yes") == 3

    assert await run_cli(redis_url, "drop", "--all", "--customer", ALICE, "--yes") == 0
    assert [x.id for x in await deadletters.read_all(aredis, TENANT)] == [newest.id]
    assert await run_cli(redis_url, "drop", "--all", "--yes") == 0
    assert await deadletters.count(aredis, TENANT) == 0
    assert await inbox_texts(aredis, ALICE) == [], "dropping does not replay"


async def test_drop_all_removes_only_what_was_read(
    pipelined: PipelinedRedis, aredis: aioredis.Redis, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    await dead_letter_turn(aredis, pipelined, settings, ALICE, ["seen"], "boom")
    seen = await deadletters.read_all(aredis, TENANT)
    await dead_letter_turn(aredis, pipelined, settings, BOB, ["arrived since"], "boom")
    assert await deadletters.drop(aredis, TENANT, seen) == 1
    [left] = await deadletters.read_all(aredis, TENANT)
    assert left.customer_id == BOB


async def test_an_unreadable_record_is_listed_and_dropped_but_not_replayed(
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await aredis.lpush(keyspace.dead_letter_key(TENANT), b"not json")
    [letter] = await deadletters.read_all(aredis, TENANT)
    assert not letter.replayable and letter.reason == "unreadable record"
    with pytest.raises(ValueError, match="cannot be replayed"):
        await deadletters.replay(aredis, make_settings(), [letter])
    assert await run_cli(redis_url, "replay", letter.id) == 1
    assert "cannot be replayed" in capsys.readouterr().err
    assert await run_cli(redis_url, "list") == 0
    assert letter.id in capsys.readouterr().out
    assert await run_cli(redis_url, "drop", letter.id, "--yes") == 0
    assert await deadletters.count(aredis, TENANT) == 0


# --- usage, settings, registration -------------------------------------------------------------


async def test_usage_errors_and_invalid_settings_are_exit_2(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["replay"],
        ["replay", "abcd", "--all"],
        ["drop", "abcd", "--customer", ALICE, "--yes"],
        ["frobnicate"],
    ):
        assert await run_cli(redis_url, *argv) == 2, argv
    capsys.readouterr()
    assert await asyncio.to_thread(cli, ["list"], {}) == 2
    assert "SUPPORTBOT_" in capsys.readouterr().err


def test_select_by_prefix_and_customer_filter() -> None:
    def letter(ident: str, ref: str = "") -> DeadLetter:
        return DeadLetter(ident, b"", TENANT, ref, "", None, None, (), ())

    letters = [letter("abcd1111"), letter("abcd2222"), letter("ffff0000")]
    assert deadletters.select(letters, "ABCD2").id == "abcd2222"
    assert deadletters.select(letters, "ffff0000").id == "ffff0000"
    with pytest.raises(DeadLetterError, match="ambiguous: abcd1111, abcd2222"):
        deadletters.select(letters, "abcd")
    theirs = letter("11112222", keyspace.conversation_ref(BOB))
    assert deadletters.for_customer([*letters, theirs], f"+{BOB}") == [theirs]


def test_the_command_is_registered(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env.update(settings_env(redis_url))
    done = subprocess.run(
        [sys.executable, "-m", "supportbot.cli", "deadletters", "count"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "0"), done.stderr


# --- end to end through the real worker ------------------------------------------------------


class SwitchHandler:
    """Fails every turn while `failing` is set; records the texts of each turn it completes."""

    def __init__(self) -> None:
        self.failing = True
        self.done: list[tuple[str, ...]] = []

    async def handle_turn(self, turn: Turn) -> None:
        if self.failing:
            raise RuntimeError("the flow file is broken")
        self.done.append(tuple(m.text or "" for m in turn.messages))


async def test_a_dead_lettered_turn_replayed_runs_again_with_its_messages_in_order(
    pipelined: PipelinedRedis,
    aredis: aioredis.Redis,
    redis_url: str,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(coalesce_window_seconds=0.3, coalesce_max_wait_seconds=2)
    ingestor = Ingestor(aredis, settings, pipeline=pipelined)
    texts = ["first", "second"]
    for seq, text in enumerate(texts):
        await ingestor.accept(make_message(ALICE, seq, text=text), b"{}")
    handler = SwitchHandler()

    async def idle() -> bool:
        return int(await aredis.scard(keyspace.active_key(TENANT))) == 0

    async with background_worker(settings, aredis, handler):
        await wait_until(idle, 90, "the failing turn to be dead-lettered")
        letters = await deadletters.read_all(aredis, TENANT)
        dead_texts = [m.text for x in reversed(letters) for m in x.messages if m]
        assert dead_texts == texts, "every message is parked, none lost"
        assert all("the flow file is broken" in x.reason for x in letters)
        metrics = WorkerMetrics()
        metrics.dead_letters.set(await deadletters.count(aredis, TENANT))
        assert metrics.registry.get_sample_value("supportbot_dead_letters") == len(letters)

        handler.failing = False
        assert await run_cli(redis_url, "replay", "--all", "--customer", ALICE) == 0
        assert f"replayed {len(letters)} dead letter(s): 2 message(s)" in capsys.readouterr().out

        async def answered() -> bool:
            return sum(len(t) for t in handler.done) == len(texts) and await idle()

        await wait_until(answered, 30, "the replayed turn")
        assert await run_cli(redis_url, "replay", "--all") == 0, "nothing left: a no-op"
        await wait_until(idle, 10, "the conversation to stay idle")
    assert [text for turn in handler.done for text in turn] == texts
    assert await deadletters.count(aredis, TENANT) == 0
