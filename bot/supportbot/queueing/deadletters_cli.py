"""`supportbot deadletters`: list, show, replay and drop the tenant's dead-lettered turns.

    supportbot deadletters list [--customer C] [--json]
    supportbot deadletters count
    supportbot deadletters show ID [--json]
    supportbot deadletters replay (ID | --all [--customer C])
    supportbot deadletters drop (ID | --all [--customer C]) --yes

The tenant and its Redis come from the SUPPORTBOT_* settings, so run it where the worker runs
(``kubectl exec deploy/<tenant>-worker -- supportbot deadletters list``). ID is the id `list`
prints or a unique prefix of it (at least 4 characters); C is a customer id, BSUID or phone.
Phones are masked and reasons scrubbed in the human output; ``--json`` prints the full records.
`replay` puts the turn's messages back at the front of the conversation's inbox and enqueues a
drain (see `deadletters`); repeating it never duplicates a message.

Exit codes: 0 done (also when there was nothing to do); 1 Redis failed, or `drop` without
``--yes``; 2 usage error or invalid settings; 3 no dead letter matches the ID, the prefix is
ambiguous, or the dead letter was replayed or dropped meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from supportbot.queueing import deadletters
from supportbot.queueing.deadletters import DeadLetter, DeadLetterError
from supportbot.settings import BotSettings, SettingsError, load_settings

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
_ID_HELP = "a dead letter's id as `list` prints it, or a unique prefix (4+ characters)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot deadletters",
        description="List, show, replay and drop the tenant's dead-lettered turns.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="dead letters, newest first")
    p.add_argument("--customer", help="only this customer (id, BSUID or phone)")
    p.add_argument("--json", action="store_true", help="full records as a JSON array")
    sub.add_parser("count", help="how many dead letters there are")
    p = sub.add_parser("show", help="one dead letter with its messages")
    p.add_argument("id", metavar="ID", help=_ID_HELP)
    p.add_argument("--json", action="store_true", help="the full record as JSON")
    for name, help_text in (
        ("replay", "put the turn's messages back at the front of its inbox and run it again"),
        ("drop", "delete dead letters for good (needs --yes)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("id", nargs="?", metavar="ID", help=_ID_HELP)
        p.add_argument("--all", action="store_true", help="every dead letter (of --customer)")
        p.add_argument("--customer", help="with --all: only this customer")
        if name == "drop":
            p.add_argument("--yes", action="store_true", help="confirm the deletion")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.command not in ("replay", "drop"):
        return
    if bool(args.id) == bool(args.all):
        parser.error(f"{args.command}: give either an ID or --all")
    if args.customer and not args.all:
        parser.error(f"{args.command}: --customer goes with --all")


def _chosen(letters: list[DeadLetter], args: argparse.Namespace) -> list[DeadLetter]:
    if getattr(args, "id", None):
        return [deadletters.select(letters, args.id)]
    if getattr(args, "customer", None):
        return deadletters.for_customer(letters, args.customer)
    return letters


def _print_list(letters: list[DeadLetter], as_json: bool) -> None:
    if as_json:
        print(json.dumps([deadletters.to_json(x) for x in letters], indent=2, ensure_ascii=False))
        return
    if not letters:
        print("no dead letters")
        return
    print(deadletters.LIST_HEADER)
    for letter in letters:
        print(deadletters.list_line(letter))


async def _replay(
    redis: aioredis.Redis, settings: BotSettings, chosen: list[DeadLetter], by_id: bool
) -> int:
    report = await deadletters.replay(redis, settings, chosen)
    print(
        f"replayed {report.records} dead letter(s): {report.messages} message(s) back in their "
        f"inbox, {report.duplicates} already there, {report.drains} drain(s) enqueued"
    )
    if report.missing:
        print(f"{report.missing} dead letter(s) were already replayed or dropped", file=sys.stderr)
        return EXIT_NOT_FOUND if by_id else 0
    return 0


async def _drop(
    redis: aioredis.Redis, tenant_id: str, chosen: list[DeadLetter], by_id: bool
) -> int:
    removed = await deadletters.drop(redis, tenant_id, chosen)
    print(f"dropped {removed} dead letter(s)")
    if removed < len(chosen):
        print(f"{len(chosen) - removed} were already replayed or dropped", file=sys.stderr)
        return EXIT_NOT_FOUND if by_id else 0
    return 0


async def _run(args: argparse.Namespace, settings: BotSettings) -> int:
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        if args.command == "count":
            print(await deadletters.count(redis, settings.tenant_id))
            return 0
        chosen = _chosen(await deadletters.read_all(redis, settings.tenant_id), args)
        if args.command == "list":
            _print_list(chosen, args.json)
        elif args.command == "show":
            [letter] = chosen
            if args.json:
                print(json.dumps(deadletters.to_json(letter), indent=2, ensure_ascii=False))
            else:
                print(deadletters.details(letter))
        elif args.command == "replay":
            return await _replay(redis, settings, chosen, bool(args.id))
        elif args.command == "drop":
            if not args.yes:
                print(
                    f"refusing to drop {len(chosen)} dead letter(s) without --yes", file=sys.stderr
                )
                return EXIT_FAILED
            return await _drop(redis, settings.tenant_id, chosen, bool(args.id))
        return 0
    finally:
        await redis.aclose()


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check(parser, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(args, settings))
    except DeadLetterError as exc:
        print(f"supportbot deadletters {args.command}: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except (RedisError, OSError, ValueError) as exc:
        print(f"supportbot deadletters {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
