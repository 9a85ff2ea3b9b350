"""In-doubt sends: was a reply whose sender died mid-send accepted by MSG91 after all?

MSG91 has no idempotency key. A worker killed after MSG91 accepted a reply and before the reply's
claim marker was settled leaves the claim "sending"; the next run of the turn takes it over once
it is stale (`deliverer.IN_FLIGHT_SECONDS`). Before sending again it asks `InDoubtResolver`
whether MSG91 reported an outbound message to this customer that we never recorded: replies to
one customer go out strictly one after another, and every send whose response we read is
recorded with its provider id (`attempts`), so an *unrecorded* outbound report received after the
in-doubt claim was taken can only be that reply. Then the reply is settled as sent with that id
(no second send); without such a report it is sent again (at-least-once).

The index: the delivery-report consumer calls `remember_unknown` for each report that names a
message the store does not know (yet); it keeps ``sb:<tenant>:outrep:<customer>`` (a sorted set
of the report's ids, scored by when the webhook received it, epoch ms) for `INDEX_SECONDS`.
A report that merely overtook the recording of a normal send is in the index too, but by the
time a claim is stale its send has been recorded, so `confirmed_send` skips it.

Residual: a reply whose report never arrives (MSG91 Webhook (New) "outbound" events not
configured, or lost) is sent again — the bound stated in the README.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from supportbot import keyspace
from supportbot.messages import DeliveryReport
from supportbot.provider.dlr_store import DeliveryStateStore

INDEX_SECONDS = 7200
"""How long an unrecorded outbound report is kept for in-doubt checks."""
_SEP = "|"


def report_ids(report: DeliveryReport) -> list[str]:
    """The report's id, then the other ids it carries (request id and wamid ``uuid``)."""
    ids = [report.provider_message_id]
    for key in ("uuid", "request_id"):
        value = report.extra.get(key)
        if isinstance(value, str) and value and value not in ids:
            ids.append(value)
    return ids


async def remember_unknown(redis: aioredis.Redis, report: DeliveryReport) -> None:
    """Index a report whose message the store does not know (see the module docstring)."""
    if not report.customer_id:
        return
    key = keyspace.outbound_reports_key(report.tenant_id, report.customer_id)
    now_ms = int(time.time() * 1000)
    member = _SEP.join(report_ids(report))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {member: int(report.received_at * 1000)}, nx=True)
        pipe.zremrangebyscore(key, "-inf", now_ms - INDEX_SECONDS * 1000)
        pipe.expire(key, INDEX_SECONDS)
        await pipe.execute()


class InDoubtResolver:
    def __init__(self, redis: aioredis.Redis, tenant_id: str, store: DeliveryStateStore):
        self.redis = redis
        self.tenant_id = tenant_id
        self.store = store

    async def confirmed_send(self, customer_id: str, since_ms: int) -> str | None:
        """The provider id of an outbound message to `customer_id` reported (received) at or
        after `since_ms` that no recorded send has, or None."""
        key = keyspace.outbound_reports_key(self.tenant_id, customer_id)
        members = await self.redis.zrangebyscore(key, since_ms, "+inf")
        for raw in members:
            ids = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(_SEP)
            known = False
            for provider_id in ids:
                if await self.store.load(self.tenant_id, provider_id) is not None:
                    known = True
                    break
            if not known:
                return ids[0]
        return None
