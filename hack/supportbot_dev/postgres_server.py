"""A private PostgreSQL cluster on a free loopback port in a temp dir (Debian's package).

PostgreSQL refuses to run as root, so under root the cluster runs as the `postgres` system user
(created by Debian's package) with its data dir owned by that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
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

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc is not None:
            procs.stop(self.proc, timeout=20)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres() -> PostgresServer:
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
    proc = procs.start(
        [
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
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=128MB",
        ],
        log,
        user=run_as,
        cwd=workdir,
    )
    server = PostgresServer(port=port, workdir=workdir, superuser=superuser, proc=proc)
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
