"""`asgiserver.serving`: enter once the server answers, stop it and close its socket on exit."""

from __future__ import annotations

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from supportbot import asgiserver


async def hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hi")


def config(**extra: object) -> uvicorn.Config:
    app = Starlette(routes=[Route("/", hello)])
    return uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", **extra)  # type: ignore[arg-type]


async def test_serves_inside_the_block_and_stops_after_it() -> None:
    sock = asgiserver.bind()
    url = asgiserver.url_of(sock)
    async with asgiserver.serving(config(), sock) as server, httpx.AsyncClient() as client:
        assert server.started
        assert (await client.get(url)).text == "hi"
    assert sock.fileno() == -1  # closed
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url)
