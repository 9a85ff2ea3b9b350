"""Storing delivery reports: de-duplicate, publish and archive in one atomic Redis round trip.

Keys (named by `supportbot.keyspace`):

    sb:{t}:dlrseen:{provider_message_id}:{state}  STRING  SET NX EX dedupe_ttl: report seen
    sb:{t}:dlr                                    STREAM  field r = DeliveryReport.to_json()
    sb:{t}:raw                                    STREAM  raw body: b, t (received_at), k="status",
                                                          id = "{provider_message_id}:{state}"

The delivery side consumes ``sb:{t}:dlr`` (e.g. XREADGROUP); both streams are trimmed
approximately (MAXLEN ~) so a missing consumer cannot exhaust Redis memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from supportbot import keyspace
from supportbot.messages import DeliveryReport
from supportbot.queueing.adapters.pipelined import LuaScript, PipelinedRedis
from supportbot.queueing.ingest import RAW_STREAM_MAXLEN
from supportbot.settings import BotSettings

DLR_STREAM_MAXLEN = 200_000
"""Approximate cap of the delivery-report stream."""

STORE_REPORT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'r', ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*',
           'b', ARGV[5], 't', ARGV[6], 'k', 'status', 'id', ARGV[7])
return 1
"""


_SCRIPT = LuaScript(STORE_REPORT)


def dedupe_id(report: DeliveryReport) -> str:
    return f"{report.provider_message_id}:{report.state.value}"


class ReportStore:
    """Writes one tenant's delivery reports; `store` returns one bool per report (True = new).

    All reports of one post go out together as EVALSHA calls on the webhook's `PipelinedRedis`
    (one round trip); on NOSCRIPT the script is loaded and the batch re-run (the dedupe key makes
    the re-run harmless).
    """

    def __init__(self, settings: BotSettings, *, pipeline: PipelinedRedis) -> None:
        self._settings = settings
        self._pipeline = pipeline

    async def store(self, reports: Sequence[DeliveryReport], raw_body: bytes) -> list[bool]:
        if not reports:
            return []
        calls = [self._call(report, raw_body) for report in reports]
        results = await self._pipeline.evalsha_many(_SCRIPT, calls)
        return [int(r) == 1 for r in results]

    def _call(
        self, report: DeliveryReport, raw_body: bytes
    ) -> tuple[tuple[str, str, str], tuple[int | str | bytes, ...]]:
        """(keys, args) of one STORE_REPORT call."""
        tenant = self._settings.tenant_id
        script_keys = (
            keyspace.dlr_seen_key(tenant, dedupe_id(report)),
            keyspace.dlr_stream_key(tenant),
            keyspace.raw_stream_key(tenant),
        )
        args = (
            self._settings.dedupe_ttl_seconds,
            DLR_STREAM_MAXLEN,
            report.to_json(),
            RAW_STREAM_MAXLEN,
            raw_body,
            repr(report.received_at),
            dedupe_id(report),
        )
        return script_keys, args
