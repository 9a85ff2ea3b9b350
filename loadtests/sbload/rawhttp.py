"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for the load driver's hot path.

Why not httpx: on a 2-core machine shared with the system under test, the driver's own CPU per
request matters. This client writes one pre-built request and reads one response with a
Content-Length body (what uvicorn sends for JSON answers): ~30-50 µs of driver CPU per request.
A `ConnectionPool` keeps at most `size` connections; callers wait for a free one (so the pool size
is the number of concurrent connections the server sees). Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

IDLE_SECONDS = 4.0
"""Idle connections older than this are dropped (uvicorn's keep-alive timeout is 5 s)."""


class HttpError(Exception):
    """The connection failed or the response could not be read."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


def _loopback(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"load traffic goes to loopback only, not {host!r}")


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def roundtrip(self, request: bytes) -> Response:
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        parts = status_line.split(b" ", 2)
        status = int(parts[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value.strip())
            elif lname == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
            raise _Closed(Response(status, body))
        return Response(status, body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _StaleError(Exception):
    """The connection was closed before the response started: safe to retry elsewhere."""


class _Closed(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class ConnectionPool:
    def __init__(self, base_url: str, size: int, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        _loopback(self.host)
        self.port = parts.port or 80
        self.size = size
        self.timeout = timeout
        self._idle: list[tuple[_Conn, float]] = []
        self._slots = asyncio.Semaphore(size)
        self._hostheader = f"{self.host}:{self.port}".encode()

    def build(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._hostheader]
        head += [f"{k}: {v}".encode() for k, v in headers.items()]
        head.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(head) + b"\r\n\r\n" + body

    async def request(self, raw: bytes) -> Response:
        """Send a request built by `build`; raises HttpError on connection problems.

        A reused keep-alive connection the server closed while idle (uvicorn closes them after
        5 s) is retried once on a fresh connection, as HTTP clients do.
        """
        async with self._slots:
            while self._idle:
                conn, used = self._idle.pop()
                if time.monotonic() - used < IDLE_SECONDS:
                    try:
                        return await self._exchange(conn, raw)
                    except _StaleError:
                        pass
                else:
                    conn.close()
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                raise HttpError(f"connect: {exc}") from None
            try:
                return await self._exchange(_Conn(reader, writer), raw)
            except _StaleError as exc:
                raise HttpError(str(exc)) from None

    async def _exchange(self, conn: _Conn, raw: bytes) -> Response:
        try:
            async with asyncio.timeout(self.timeout):
                response = await conn.roundtrip(raw)
        except _Closed as closed:
            return closed.response
        except HttpError as exc:  # closed before any response byte
            conn.close()
            raise _StaleError(str(exc)) from None
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            conn.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from None
        except TimeoutError:
            conn.close()
            raise HttpError("timeout") from None
        self._idle.append((conn, time.monotonic()))
        return response

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        return await self.request(self.build("POST", path, body, headers))

    async def get(self, path: str) -> Response:
        return await self.request(self.build("GET", path, b"", {}))

    async def aclose(self) -> None:
        for conn, _ in self._idle:
            conn.close()
        self._idle.clear()
