"""Text PostgreSQL cannot store is normalised at ingest (`supportbot.textsafe`): the message is
acknowledged and queued with U+FFFD in place of U+0000 / unpaired surrogates, while the raw body
is archived byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.queueing.entries import decode_entry
from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH

TEXT_ESCAPED = "Order 12\\u0000 is late \\ud83d, \\ud83d\\ude00"


async def test_nul_and_lone_surrogates_are_acked_and_queued_as_replacement_characters(
    client: httpx.AsyncClient, aredis: aioredis.Redis
) -> None:
    body = t.encode(t.msg91_text("PLACEHOLDER")).replace(b"PLACEHOLDER", TEXT_ESCAPED.encode())
    response = await client.post(INBOUND_PATH, content=body, headers=t.headers())
    assert response.status_code == 200, response.text

    ref = keyspace.conversation_ref(t.CUSTOMER)
    [entry] = await aredis.lrange(keyspace.conversation_keys(t.TENANT, ref).inbox, 0, -1)
    message = decode_entry(entry)
    assert message.text is not None
    assert message.text == "Order 12\ufffd is late \ufffd, \U0001f600"
    message.text.encode("utf-8")  # storable: valid UTF-8, no NUL

    archived: Any = await aredis.xrange(keyspace.raw_stream_key(t.TENANT))
    assert len(archived) == 1
    assert body in archived[0][1].values(), "the raw body is archived untouched"
