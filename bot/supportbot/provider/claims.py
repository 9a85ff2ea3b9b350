"""Per-reply send claims: the Redis side of "exactly once per (turn id, seq)", fenced by a lease.

The marker ``sb:<tenant>:sent:<turn_id>:<seq>`` (`keyspace.sent_marker_key`) moves through:

    (absent) --claim--> "S|<owner>|<ms>" --done--> <ReplyOutcome JSON>  (terminal)
                              |---release---> (absent)   (the send surely did not go out)

``<owner>`` is the conversation-lease token of the turn's runner (or a random id for unfenced
callers) and ``<ms>`` the Redis clock when the claim was taken or its latest HTTP attempt started.

Contracts (KEYS / ARGV -> result); KEYS[2], when given, is the fence (the conversation lease):
the script refuses unless it holds ARGV[1] (the owner):

CLAIM    K: marker[, lease]  A: owner, in_flight_ms, ttl_s
         -> {-1} fenced | {0, marker} already terminal (replay) | {2, ms} another owner's claim
            is recent: retry in ms | {1, took_over, since_ms} claimed (took_over 1: a stale claim
            of an owner that stopped mid-send was taken over, its latest attempt started at
            since_ms; unless `indoubt` finds it was accepted, the reply is sent again)
ATTEMPT  K: marker[, lease]  A: owner, ttl_s -> -1 fenced, 0 claim no longer ours, 1 refreshed
DONE     K: marker  A: outcome_json, ttl_s -> the terminal value (an earlier terminal one wins)
RELEASE  K: marker  A: owner -> 1 deleted our claim, 0 not ours

A claim is "recent" while ``<ms> + in_flight_ms`` is in the future. `in_flight_ms` must exceed
the longest one HTTP attempt can take, so once a claim is stale its owner can have no request in
flight: it stopped (crashed, cancelled, or fenced: a fenced owner cannot start another attempt
because ATTEMPT refuses).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

import redis.asyncio as aioredis

from supportbot.messages import Turn
from supportbot.msg91.errors import DeliveryError

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

CLAIM = (
    _NOW_MS
    + """
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1} end
local cur = redis.call('GET', KEYS[1])
local took, since = 0, 0
if cur then
  if string.sub(cur, 1, 2) ~= 'S|' then return {0, cur} end
  local owner, at = string.match(cur, '^S|(.*)|(%d+)$')
  if owner ~= ARGV[1] then
    local free = tonumber(at or '0') + tonumber(ARGV[2])
    if now < free then return {2, free - now} end
    took, since = 1, tonumber(at or '0')
  end
end
redis.call('SET', KEYS[1], 'S|' .. ARGV[1] .. '|' .. now, 'EX', ARGV[3])
return {1, took, since}
"""
)

ATTEMPT = (
    _NOW_MS
    + """
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local mine = 'S|' .. ARGV[1] .. '|'
local cur = redis.call('GET', KEYS[1])
if not cur or string.sub(cur, 1, #mine) ~= mine then return 0 end
redis.call('SET', KEYS[1], mine .. now, 'EX', ARGV[2])
return 1
"""
)

DONE = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 2) ~= 'S|' then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""

RELEASE = """
local mine = 'S|' .. ARGV[1] .. '|'
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #mine) == mine then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class SendFenced(DeliveryError):
    """This caller no longer holds the conversation lease (or lost the reply's claim): it must
    not send. Nothing was sent by the attempt that raised this."""


@dataclass(frozen=True, slots=True)
class SendFence:
    """Sends are allowed only while Redis key `key` holds `token` (the conversation lease)."""

    key: str
    token: str

    @classmethod
    def for_turn(cls, turn: Turn) -> SendFence | None:
        if turn.lease_key is None or turn.lease_token is None:
            return None
        return cls(turn.lease_key, turn.lease_token)


class ClaimState(Enum):
    GO = "go"
    REPLAY = "replay"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    marker: bytes | str | None = None
    """The terminal marker value (REPLAY)."""
    wait_seconds: float = 0.0
    took_over: bool = False
    stale_since_ms: int = 0
    """When the taken-over claim's latest attempt started (Redis clock, epoch ms)."""


class SendClaims:
    """Thin async edge over the claim scripts (one round trip each)."""

    def __init__(self, redis: aioredis.Redis, *, ttl_seconds: int, in_flight_seconds: float):
        self._ttl = ttl_seconds
        self._in_flight_ms = int(in_flight_seconds * 1000)
        self._claim = redis.register_script(CLAIM)
        self._attempt = redis.register_script(ATTEMPT)
        self._done = redis.register_script(DONE)
        self._release = redis.register_script(RELEASE)

    @staticmethod
    def _keys(marker: str, fence: SendFence | None) -> list[str]:
        return [marker] if fence is None else [marker, fence.key]

    async def claim(self, marker: str, owner: str, fence: SendFence | None) -> Claim:
        """Raises `SendFenced` when the fence does not hold `owner`."""
        reply = await self._claim(
            keys=self._keys(marker, fence), args=[owner, self._in_flight_ms, self._ttl]
        )
        code = int(reply[0])
        if code < 0:
            raise SendFenced(f"the lease {fence.key if fence else ''} is no longer ours")
        if code == 0:
            return Claim(ClaimState.REPLAY, marker=reply[1])
        if code == 2:
            return Claim(ClaimState.WAIT, wait_seconds=int(reply[1]) / 1000)
        took = bool(int(reply[1]))
        return Claim(ClaimState.GO, took_over=took, stale_since_ms=int(reply[2]) if took else 0)

    async def wait_and_claim(
        self, marker: str, owner: str, fence: SendFence | None, poll: float
    ) -> Claim:
        """`claim`, waiting (polling at most every `poll` s) while another owner's claim is
        recent; returns GO or REPLAY."""
        while True:
            got = await self.claim(marker, owner, fence)
            if got.state is not ClaimState.WAIT:
                return got
            await asyncio.sleep(min(max(got.wait_seconds, 0.01), poll))

    async def attempt(self, marker: str, owner: str, fence: SendFence | None) -> None:
        """Before a retry attempt: refresh our claim; raises `SendFenced` when it is not ours."""
        code = int(await self._attempt(keys=self._keys(marker, fence), args=[owner, self._ttl]))
        if code < 0:
            raise SendFenced(f"the lease {fence.key if fence else ''} is no longer ours")
        if code == 0:
            raise SendFenced(f"the claim on {marker} was taken over")

    async def done(self, marker: str, outcome_json: str) -> None:
        await self._done(keys=[marker], args=[outcome_json, self._ttl])

    async def release(self, marker: str, owner: str) -> bool:
        return bool(int(await self._release(keys=[marker], args=[owner])))
