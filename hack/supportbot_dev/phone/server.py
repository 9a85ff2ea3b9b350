"""Run the phone page: inside the current event loop (`serve`, for the demo and tests) or as a
child process (`start_page`, ``python -m supportbot_dev.phone ...``). Loopback by default."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from supportbot import asgiserver
from supportbot_dev import procs
from supportbot_dev.phone.app import create_app
from supportbot_dev.phone.config import PhoneConfig


@asynccontextmanager
async def serve(
    config: PhoneConfig, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve the page on `host:port` (0 = a free port) in this loop; yields its URL."""
    sock = asgiserver.bind(host, port)
    page = uvicorn.Config(
        create_app(config),
        log_level="warning",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    url = asgiserver.url_of(sock, host)
    async with asgiserver.serving(page, sock, name="the phone page"):
        yield url


@dataclass
class RunningPage:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        procs.stop(self.proc)


def start_page(
    args: Sequence[str], *, port: int | None = None, log: Path | None = None, timeout: float = 30
) -> RunningPage:
    """Start ``python -m supportbot_dev.phone ARGS --port PORT`` and wait until it answers."""
    port = port or procs.free_port()
    log = log or Path(tempfile.mkdtemp(prefix="phone-page-")) / "page.log"
    argv = [sys.executable, "-m", "supportbot_dev.phone", *args, "--port", str(port)]
    proc = procs.start(argv, log)
    page = RunningPage(f"http://127.0.0.1:{port}", proc, log)

    def ready() -> bool:
        try:
            return httpx.get(page.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        procs.wait_until(ready, timeout, "the phone page", proc, log)
    except procs.HarnessError:
        page.stop()
        raise
    return page
