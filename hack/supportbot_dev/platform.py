"""`python -m supportbot_dev.platform`: run the local platform until Ctrl-C.

Starts the Kubernetes control plane (full mode unless --api-only) and, unless --no-services,
private Redis and PostgreSQL servers; writes `.local/kubeconfig` and `.local/platform.env`, prints
how to use them, and shuts everything down cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from supportbot_dev.binaries import REPO_ROOT
from supportbot_dev.controlplane import LocalControlPlane
from supportbot_dev.postgres_server import PostgresServer, start_postgres
from supportbot_dev.redis_server import RedisServer, start_redis


def _say(msg: str) -> None:
    print(f"[platform {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__)
    parser.add_argument("--api-only", action="store_true", help="etcd + kube-apiserver only")
    parser.add_argument("--no-services", action="store_true", help="skip Redis and PostgreSQL")
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".local")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    state: Path = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    plane: LocalControlPlane | None = None
    redis: RedisServer | None = None
    pg: PostgresServer | None = None
    try:
        _say(
            "starting the Kubernetes control plane"
            + (
                " (API-only)"
                if args.api_only
                else " (etcd, kube-apiserver, controller-manager, scheduler, KWOK)"
            )
        )
        plane = LocalControlPlane(full=not args.api_only, log=_say).start()
        kubeconfig = state / "kubeconfig"
        shutil.copyfile(plane.kubeconfig, kubeconfig)
        env_lines = [
            f"export KUBECONFIG={kubeconfig}",
            f"export PATH={plane.bins.kubectl.parent}:"
            f"{plane.bins.helm.parent if plane.bins.helm else ''}:$PATH",
        ]
        if not args.no_services:
            redis = start_redis()
            pg = start_postgres()
            env_lines += [f"export REDIS_URL={redis.url}", f"export DATABASE_URL={pg.url()}"]
            _say(f"Redis at {redis.url}, PostgreSQL at {pg.url()}")
        (state / "platform.env").write_text("\n".join(env_lines) + "\n")
        print("\nThe local platform is up. In another shell:\n", flush=True)
        print(f"  source {state / 'platform.env'}")
        print(
            "  kubectl get nodes            # KWOK-simulated nodes"
            if not args.api_only
            else "  kubectl api-resources"
        )
        print("  helm install ... / kubectl apply -f examples/ ...")
        print(f"\nLogs: {plane.workdir / 'logs'}\nCtrl-C stops everything.\n", flush=True)
        while not stop.wait(1.0):
            for name, proc in plane.procs:
                if proc.poll() is not None:
                    _say(f"{name} exited with {proc.returncode}; stopping")
                    return 1
        return 0
    finally:
        _say("shutting down")
        for svc in (pg, redis, plane):
            if svc is not None:
                svc.stop()
        (state / "platform.env").unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
