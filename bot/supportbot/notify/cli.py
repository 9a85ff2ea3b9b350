"""`supportbot notifications`: the tenant's handoff notifications (outbound webhook) and resending
the failed ones once the receiver is fixed.

    supportbot notifications list [--status pending|delivered|failed] [--limit N] [--json]
    supportbot notifications resend (ID... | --failed)

The tenant and its database come from the SUPPORTBOT_* settings, so run it where the worker runs
(``kubectl exec deploy/<tenant>-worker -- supportbot notifications list --status failed``).
`resend` makes failed notifications pending again, due at once, with a fresh attempt count and
retry budget; the same Idempotency-Key is sent. Customer ids are masked in the human output.

Exit codes: 0 done (also when nothing matched); 1 the database failed; 2 usage error or invalid
settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import asyncpg

from supportbot.notify import store
from supportbot.observability import mask_phone
from supportbot.settings import BotSettings, SettingsError, load_settings
from supportbot.storage.db import create_pool

EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot notifications",
        description="List the tenant's handoff notifications; resend failed ones.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="notifications, newest first")
    p.add_argument("--status", choices=["pending", "delivered", "failed"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="records as a JSON array")
    p = sub.add_parser("resend", help="make failed notifications pending again")
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--failed", action="store_true", help="every failed notification")
    return parser


async def _run(settings: BotSettings, args: argparse.Namespace) -> int:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        if args.command == "resend":
            count = await store.resend(pool, settings.tenant_id, None if args.failed else args.ids)
            print(f"{count} notification(s) pending again")
            return 0
        found = await store.list_notifications(
            pool, settings.tenant_id, status=args.status, limit=max(1, min(args.limit, 1000))
        )
    finally:
        await pool.close()
    if args.json:
        records = [
            {
                **vars(n),
                "created_at": n.created_at.isoformat(),
                "next_attempt_at": n.next_attempt_at.isoformat(),
            }
            for n in found
        ]
        print(json.dumps(records, indent=2))
        return 0
    for n in found:
        error = f"  {n.last_error}" if n.last_error else ""
        print(
            f"{n.id:>8}  {n.created_at:%Y-%m-%d %H:%M:%S}  {n.event:<25} {n.status:<9}"
            f" attempts={n.attempts} http={n.last_http_status or '-'}"
            f"  {mask_phone(n.customer_id)}{error}"
        )
    return 0


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "resend" and bool(args.ids) == bool(args.failed):
        parser.error("resend: give IDs or --failed")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(settings, args))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        print(f"supportbot notifications: database unavailable: {exc}", file=sys.stderr)
        return EXIT_FAILED
