"""``supportbot agent-token``: mint a bearer token for the agent API (demo and operations).

    supportbot agent-token --agent alice --ttl 3600

Reads the tenant id and the JWT secret from the environment (``SUPPORTBOT_TENANT_ID``,
``SUPPORTBOT_JWT_SECRET`` or ``JWT_SECRET``), like the bot itself; ``--tenant`` overrides the
tenant. Prints the token (and nothing else) on stdout; the secret is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from supportbot.agentapi.tokens import mint_token


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="supportbot agent-token", description=__doc__.split("\n")[0])
    p.add_argument("--agent", required=True, help="agent id (the token's `sub`)")
    p.add_argument("--ttl", type=float, default=3600.0, help="seconds the token is valid")
    p.add_argument("--tenant", help="tenant id (default: $SUPPORTBOT_TENANT_ID)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    tenant = args.tenant or os.environ.get("SUPPORTBOT_TENANT_ID")
    secret = os.environ.get("SUPPORTBOT_JWT_SECRET") or os.environ.get("JWT_SECRET")
    if not tenant:
        print("supportbot agent-token: set SUPPORTBOT_TENANT_ID or pass --tenant", file=sys.stderr)
        return 2
    if not secret:
        print("supportbot agent-token: set SUPPORTBOT_JWT_SECRET", file=sys.stderr)
        return 2
    try:
        token = mint_token(
            secret.encode(), agent=args.agent, tenant=tenant, ttl_seconds=args.ttl, now=time.time()
        )
    except ValueError as exc:
        print(f"supportbot agent-token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
