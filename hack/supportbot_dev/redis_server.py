"""A private redis-server on a free loopback port in a temp dir (Debian's package)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from supportbot_dev import procs


def redis_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        procs.apt_install("redis-server")
        found = shutil.which("redis-server") or "/usr/bin/redis-server"
    return found


@dataclass
class RedisServer:
    url: str
    port: int
    workdir: Path
    proc: Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis(*, maxclients: int = 10_000) -> RedisServer:
    binary = redis_binary()
    workdir = Path(tempfile.mkdtemp(prefix="supportbot-redis-"))
    port = procs.free_port()
    log = workdir / "redis.log"
    proc = procs.start(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--maxclients",
            str(maxclients),
            "--protected-mode",
            "yes",
            "--databases",
            "64",
        ],
        log,
    )
    procs.wait_until(lambda: procs.port_open(port), 20, "redis-server", proc, log)
    return RedisServer(url=f"redis://127.0.0.1:{port}", port=port, workdir=workdir, proc=proc)
