"""Serve an ASGI app with uvicorn inside the running event loop, for as long as a block runs.

    async with asgiserver.serving(uvicorn.Config(app, ...), bind("127.0.0.1")) as url:
        ...                                   # the server answers at `url`

Used by in-process servers of tests, simulators and the dev harness (the engine's `serve`, the
OpenRouter simulator's `run_simulator`, the MSG91 webhook sink, the phone page). Production
processes run uvicorn as their main loop instead (`webhook.server`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

START_POLL_SECONDS = 0.01


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on `host:port` (0 = a free port; IPv6 when `host` has ':')."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def url_of(sock: socket.socket, host: str | None = None) -> str:
    """The base URL of `sock`, named by `host` when given (else by the address it is bound to)."""
    bound, port = sock.getsockname()[:2]
    name = bound if host is None else host
    return f"http://{'[' + name + ']' if ':' in name else name}:{port}"


@asynccontextmanager
async def serving(
    config: uvicorn.Config, sock: socket.socket | None = None, *, name: str = "server"
) -> AsyncIterator[uvicorn.Server]:
    """Start `config`'s server as a task of this loop (on `sock` when given, else on the
    config's host and port); enter once it serves; on exit stop it (lifespan shutdown included),
    wait for it and close `sock`. A server that fails to start raises its error here."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"{name} stopped during start-up")
            await asyncio.sleep(START_POLL_SECONDS)
        yield server
    finally:
        server.should_exit = True
        await task
        if sock is not None:
            sock.close()
