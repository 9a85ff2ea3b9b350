"""A private PostgreSQL cluster on a free loopback port in a temp dir (Debian's package).

PostgreSQL refuses to run as root, so under root the cluster runs as the `postgres` system user
(created by Debian's package) with its data dir owned by that user. `PostgresServer.kill` stops it
the way a crash or `pg_ctl -m immediate` would and `PostgresServer.restart` starts it again on the
same port and data dir (the fault suite, loadtests/README.md).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from supportbot_dev import procs


def pg_bindir() -> Path:
    def find() -> Path | None:
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[4]))
        return Path(dirs[-1]) if dirs and Path(dirs[-1], "postgres").exists() else None

    found = find()
    if found is None:
        procs.apt_install("postgresql")
        found = find()
    if found is None:
        raise procs.HarnessError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
        )
    return found


@dataclass
class PostgresServer:
    port: int
    workdir: Path
    superuser: str
    proc: Popen[bytes] | None = None
    argv: tuple[str, ...] = ()
    """The postmaster's command line (`restart` reuses it)."""
    run_as: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> Path:
        return self.workdir / "postgres.log"

    def kill(self, timeout: float = 10.0) -> None:
        """Stop at once, like `pg_ctl stop -m immediate`: SIGQUIT to the postmaster (every
        backend exits without a checkpoint; the next start runs crash recovery). SIGKILL of the
        whole process group when it takes longer than `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGQUIT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def restart(self, timeout: float = 60.0) -> None:
        """Start the same cluster again (same port and data dir) after `kill`; returns once it
        accepts connections (crash recovery done)."""
        if not self.argv:
            raise procs.HarnessError("this PostgreSQL server cannot be restarted")
        if self.proc is not None and self.proc.poll() is None:
            raise procs.HarnessError(f"postgres {self.proc.pid} is still running")
        self.proc = procs.start(self.argv, self.log, user=self.run_as, cwd=self.workdir)
        bindir = Path(self.argv[0]).parent
        port = self.port
        procs.wait_until(lambda: _accepting(bindir, port), timeout, "postgres", self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, timeout=20)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres(*, durable_commits: bool = False) -> PostgresServer:
    """Start a cluster tuned for tests (no fsync, asynchronous commits). `durable_commits`
    turns synchronous commits on, so a commit survives `kill` (the process dies, the kernel
    keeps the written WAL): what a production server guarantees across an outage."""
    bindir = pg_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="supportbot-pg-"))
    run_as: str | None = None
    if procs.is_root():
        run_as = "postgres"
        pw = pwd.getpwnam(run_as)
        os.chmod(workdir, 0o700)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    superuser = "supportbot"
    log = workdir / "postgres.log"
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            superuser,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user=run_as,
        cwd=workdir,
    )
    port = procs.free_port()
    argv = tuple(
        str(a)
        for a in [
            bindir / "postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={workdir}",
            "-c",
            "fsync=off",
            "-c",
            f"synchronous_commit={'on' if durable_commits else 'off'}",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=128MB",
        ]
    )
    proc = procs.start(argv, log, user=run_as, cwd=workdir)
    server = PostgresServer(
        port=port, workdir=workdir, superuser=superuser, proc=proc, argv=argv, run_as=run_as
    )
    procs.wait_until(lambda: _accepting(bindir, port), 30, "postgres", proc, log)
    return server


def _accepting(bindir: Path, port: int) -> bool:
    res = subprocess.run(
        [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return res.returncode == 0
