"""A private redis-server on a free loopback port in a temp dir (Debian's package).

It runs with AOF persistence (``appendonly yes``, ``appendfsync everysec``), as production Redis
should: a crash loses at most about a second of acknowledged writes. `RedisServer.kill` crashes
it (SIGKILL) and `RedisServer.restart` starts the same server again on the same port and dir, so
it reloads its AOF (the fault suite, loadtests/README.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
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


def redis_argv(
    binary: str, port: int, workdir: Path, *, maxclients: int, appendonly: bool
) -> list[str]:
    """The server's command line: loopback only, no RDB snapshots, AOF everysec unless off."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--dir",
        str(workdir),
        "--maxclients",
        str(maxclients),
        "--protected-mode",
        "yes",
        "--databases",
        "64",
    ]


@dataclass
class RedisServer:
    url: str
    port: int
    workdir: Path
    proc: Popen[bytes] | None = None
    argv: tuple[str, ...] = ()
    """The command line it was started with (`restart` reuses it); empty for an external one."""

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    def kill(self) -> None:
        """Crash the server: SIGKILL, no shutdown, no final fsync. Its dir (AOF) is kept."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def restart(self, timeout: float = 30.0) -> None:
        """Start the same server again (same port, dir and options) after `kill` or a crash;
        returns once it has loaded its AOF and answers PING."""
        if not self.argv:
            raise procs.HarnessError("an external Redis server cannot be restarted")
        if self.proc is not None and self.proc.poll() is None:
            raise procs.HarnessError(f"redis-server {self.proc.pid} is still running")
        self.proc = procs.start(self.argv, self.log)
        proc = self.proc
        procs.wait_until(lambda: answers_ping(self.port), timeout, "redis-server", proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def answers_ping(port: int) -> bool:
    """True once the server answers PONG (not ``-LOADING`` while it replays the AOF)."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock,
    ):
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    return False


def start_redis(*, maxclients: int = 10_000, appendonly: bool = True) -> RedisServer:
    workdir = Path(tempfile.mkdtemp(prefix="supportbot-redis-"))
    port = procs.free_port()
    argv = redis_argv(redis_binary(), port, workdir, maxclients=maxclients, appendonly=appendonly)
    server = RedisServer(
        url=f"redis://127.0.0.1:{port}", port=port, workdir=workdir, argv=tuple(argv)
    )
    server.proc = procs.start(argv, server.log)
    proc = server.proc
    procs.wait_until(lambda: answers_ping(port), 20, "redis-server", proc, server.log)
    return server
