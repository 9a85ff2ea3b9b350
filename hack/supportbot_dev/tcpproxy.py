"""A loopback TCP proxy that can cut its traffic: a dependency "outage" for tests, in-process.

`FaultProxy(target_port)` listens on a free loopback port and forwards every connection to
``127.0.0.1:target_port``. `cut()` closes every open connection and refuses new ones (the
listener closes, so connects get ECONNREFUSED, as when a server is down); `heal()` listens on
the same port again. Point a client at `port` instead of the server's own port.

`cut_when(marker)` arms a trigger: the first client chunk containing `marker` (for PostgreSQL, a
piece of a query's SQL text) is dropped and the proxy cuts, so a test can make the server "die"
at an exact step of the code under test. `drop_when(marker)` drops only the one connection that
carries the marker (without an answer) and keeps serving: what a client sees when a server closes
a kept-alive connection just as the client reuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

CHUNK = 65_536


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._marker: bytes | None = None
        self._drop_marker: bytes | None = None
        self.dropped = 0
        self._cutters: set[asyncio.Task[None]] = set()
        self.triggered = asyncio.Event()

    async def start(self) -> FaultProxy:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        await self.heal()
        return self

    @property
    def cut_off(self) -> bool:
        return self._server is None

    async def heal(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def drop_when(self, marker: bytes) -> None:
        """Abort the next connection whose client sends a chunk containing `marker`."""
        self._drop_marker = marker

    def cut_when(self, marker: bytes) -> None:
        """Cut (see `cut`) as soon as a client sends a chunk containing `marker`."""
        self._marker = marker
        self.triggered.clear()

    async def close(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, upstream=False)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(CHUNK):
                if upstream and self._drop_marker is not None and self._drop_marker in data:
                    self._drop_marker = None
                    self.dropped += 1
                    return  # `_accept` aborts both sides of this connection
                if upstream and self._marker is not None and self._marker in data:
                    self._marker = None
                    self.triggered.set()
                    cutter = asyncio.get_running_loop().create_task(self.cut())
                    self._cutters.add(cutter)
                    cutter.add_done_callback(self._cutters.discard)
                    return
                dst.write(data)
                await dst.drain()
