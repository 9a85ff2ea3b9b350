"""``python -m supportbot_dev.phone``: serve the phone simulator page on localhost.

    python -m supportbot_dev.phone --msg91-sim http://127.0.0.1:9091 \\
        --tenant acme=919123456789,webhook=http://127.0.0.1:8080,token-file=/tmp/acme.jwt \\
        [--tenant globex=...] [--customer Asha=919876543210] [--port 8099]

Tenant options: ``webhook=`` (the tenant's webhook base URL; its agent API is ``/api/v1``) and
``token=`` or ``token-file=`` (an agent bearer token: ``supportbot agent-token --agent NAME``);
without both the agent view and the handoff banner are off for that tenant. The page binds to
127.0.0.1; another address needs ``--allow-remote`` (it proxies with the agent tokens).
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from supportbot_dev.phone.app import create_app
from supportbot_dev.phone.config import (
    DEFAULT_CUSTOMERS,
    LOCAL_HOST_HEADERS,
    ConfigError,
    PhoneConfig,
    is_loopback,
    parse_customer,
    parse_tenant,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m supportbot_dev.phone", description=__doc__)
    p.add_argument("--msg91-sim", required=True, help="MSG91 simulator base URL")
    p.add_argument("--tenant", action="append", required=True, help="NAME=NUMBER[,webhook=URL"
                   "][,token=JWT|,token-file=PATH] (repeat)")  # fmt: skip
    p.add_argument("--customer", action="append", default=[], help="NAME=PHONE preset (repeat)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8099)
    p.add_argument("--poll-ms", type=int, default=500)
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.add_argument("--log-level", default="warning")
    return p


def config_from_args(args: argparse.Namespace) -> PhoneConfig:
    customers = tuple(parse_customer(c) for c in args.customer) or DEFAULT_CUSTOMERS
    remote = not is_loopback(args.host)
    if remote and not args.allow_remote:
        raise ConfigError(f"--host {args.host} is not loopback; add --allow-remote to mean it")
    return PhoneConfig(
        msg91_sim=args.msg91_sim,
        tenants=tuple(parse_tenant(t) for t in args.tenant),
        customers=customers,
        poll_ms=args.poll_ms,
        allowed_hosts=("*",) if remote else LOCAL_HOST_HEADERS,
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ConfigError, OSError) as exc:
        print(f"phone page: {exc}", file=sys.stderr)
        return 2
    print(f"phone page: http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
    )
    return 0
