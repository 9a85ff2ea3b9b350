"""The answer cache: a repeated free-text question is answered without a new LLM call.

Two tiers, both per tenant: an in-process LRU (`memory_entries`, at most `MEMORY_TTL_CAP` seconds)
in front of Redis (``sb:{t}:answer:{digest}``, `ttl_seconds`). Off by default
(`BotSettings.answer_cache_enabled`, the SupportBot's ``spec.llm.answerCache``): reusing one
customer's answer for another is a product decision (answers that mention "today", knowledge
outside the flow that changes), so the business opts in.

What may be cached is decided by pure functions (`lookup_key`, `storable`):

- the key is the digest of everything the answer depends on: the flow's version (its file's
  sha256: knowledge and system prompt), the model chain and sampling settings, the rendered
  system prompt, the earlier messages sent along (normalised) and the normalised question —
  so a change to any of them is a different key (old entries age out), and a question asked in
  a different context is never answered from another conversation;
- nothing customer-specific: no question or earlier customer message containing PII (what the
  LLM client would mask: phones, e-mails, cards, ids), no system prompt with ``{{slots}}``, no
  customer name anywhere in the context, and no answer that contains any of these.

A cache error (Redis down) is a miss, never a failed turn: the LLM answers as without a cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from supportbot import keyspace
from supportbot.engine import metrics
from supportbot.flow.rules import normalise
from supportbot.llm import ChatMessage
from supportbot.llm.pii import mask_pii

log = logging.getLogger(__name__)

KEY_VERSION = "1"
"""Part of every digest: bump it when the key's ingredients or the value's shape change."""
MAX_QUESTION_CHARS = 300
"""Longer questions are specific enough that a repeat is unlikely: not cached."""
MEMORY_TTL_CAP = 300.0
"""An in-process entry lives at most this long, whatever the Redis TTL."""

Tier = Literal["memory", "redis"]


@dataclass(frozen=True)
class CachedAnswer:
    answer: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    """What the original call cost (USD): the saving of each hit."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes) -> CachedAnswer:
        doc = json.loads(data)
        return cls(
            answer=str(doc["answer"]),
            model=str(doc["model"]),
            prompt_tokens=int(doc["prompt_tokens"]),
            completion_tokens=int(doc["completion_tokens"]),
            cost=float(doc["cost"]),
        )


@dataclass(frozen=True)
class ModelChain:
    """What, besides the prompt, decides an answer: the models in order and the sampling."""

    models: tuple[str, ...]
    temperature: float
    max_tokens: int


# --- pure decisions --------------------------------------------------------------------------
def _has_pii(text: str) -> bool:
    return mask_pii(text) != text


def _names(customer_name: str | None) -> tuple[str, ...]:
    """The customer's profile name and its words of 3+ letters, case-folded."""
    if not customer_name or not customer_name.strip():
        return ()
    folded = customer_name.casefold().strip()
    return (folded, *(w for w in folded.split() if len(w) >= 3))


def _names_in(text: str, names: Sequence[str]) -> bool:
    padded = f" {normalise(text)} "
    return any(f" {name} " in padded for name in names)


def uncacheable_reason(
    *,
    question: str,
    system_prompt_template: str,
    history: Sequence[ChatMessage],
    customer_name: str | None,
) -> str | None:
    """Why this question's answer must not come from (or go into) the cache; None when it may."""
    normalised = normalise(question)
    if not normalised:
        return "empty"
    if len(normalised) > MAX_QUESTION_CHARS:
        return "long"
    if "{{" in system_prompt_template:
        return "slots"
    customer_texts = [question, *(m["content"] for m in history if m["role"] == "user")]
    if any(_has_pii(t) for t in customer_texts):
        return "pii"
    names = _names(customer_name)
    if names and any(_names_in(t, names) for t in (question, *(m["content"] for m in history))):
        return "pii"
    return None


def lookup_key(
    *,
    flow_sha256: str,
    chain: ModelChain,
    system_prompt: str,
    history: Sequence[ChatMessage],
    question: str,
) -> str:
    """The digest naming this answer (see the module docstring for what goes in)."""
    material = [
        KEY_VERSION,
        flow_sha256,
        list(chain.models),
        chain.temperature,
        chain.max_tokens,
        system_prompt,
        [[m["role"], normalise(m["content"])] for m in history if m["role"] != "system"],
        normalise(question),
    ]
    encoded = json.dumps(material, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def storable(answer: str, customer_name: str | None) -> bool:
    """May this answer be given to other customers? Not when it carries PII or the name."""
    if not answer.strip() or _has_pii(answer):
        return False
    names = _names(customer_name)
    return not (names and _names_in(answer, names))


# --- the two tiers (I/O) ---------------------------------------------------------------------
class AnswerCache:
    """The in-process LRU in front of Redis, for one tenant."""

    def __init__(
        self,
        redis: aioredis.Redis,
        tenant_id: str,
        *,
        ttl_seconds: int,
        memory_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.tenant_id = tenant_id
        self.ttl_seconds = ttl_seconds
        self.memory_entries = memory_entries
        self.memory_ttl = min(float(ttl_seconds), MEMORY_TTL_CAP)
        self._clock = clock
        self._memory: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()

    def _remember(self, digest: str, answer: CachedAnswer) -> None:
        if self.memory_entries <= 0:
            return
        self._memory[digest] = (self._clock() + self.memory_ttl, answer)
        self._memory.move_to_end(digest)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    def _recall(self, digest: str) -> CachedAnswer | None:
        found = self._memory.get(digest)
        if found is None:
            return None
        expires, answer = found
        if expires <= self._clock():
            del self._memory[digest]
            return None
        self._memory.move_to_end(digest)
        return answer

    async def get(self, digest: str) -> tuple[CachedAnswer, Tier] | None:
        """The cached answer and the tier that had it; None on a miss.
        Raises RedisError when Redis cannot answer (the caller counts it as a miss)."""
        answer = self._recall(digest)
        if answer is not None:
            return answer, "memory"
        raw = await self.redis.get(keyspace.answer_key(self.tenant_id, digest))
        if raw is None:
            return None
        try:
            answer = CachedAnswer.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable answer-cache entry ignored", extra={"digest": digest[:12]})
            return None
        self._remember(digest, answer)
        return answer, "redis"

    async def put(self, digest: str, answer: CachedAnswer) -> None:
        """Store in both tiers (Redis first; raises RedisError when it cannot)."""
        await self.redis.set(
            keyspace.answer_key(self.tenant_id, digest), answer.to_json(), ex=self.ttl_seconds
        )
        self._remember(digest, answer)

    async def lookup(self, digest: str) -> tuple[CachedAnswer, Tier] | None:
        """`get`, counted in the metrics; a Redis error is a miss (logged), never raised."""
        try:
            found = await self.get(digest)
        except RedisError as exc:
            metrics.ANSWER_CACHE_LOOKUPS.labels("error").inc()
            log.warning("answer cache unavailable, asking the LLM", extra={"error": str(exc)})
            return None
        if found is None:
            metrics.ANSWER_CACHE_LOOKUPS.labels("miss").inc()
            return None
        hit, tier = found
        metrics.ANSWER_CACHE_LOOKUPS.labels(f"hit_{tier}").inc()
        metrics.ANSWER_CACHE_SAVED_CALLS.inc()
        metrics.ANSWER_CACHE_SAVED_COST.inc(hit.cost)
        metrics.ANSWER_CACHE_SAVED_TOKENS.inc(hit.prompt_tokens + hit.completion_tokens)
        return found

    async def offer(self, digest: str, entry: CachedAnswer, customer_name: str | None) -> bool:
        """`put` when the answer may be given to others (`storable`); True when kept. A Redis
        error is logged and counted, never raised."""
        if not storable(entry.answer, customer_name):
            metrics.ANSWER_CACHE_STORES.labels("refused").inc()
            return False
        try:
            await self.put(digest, entry)
        except RedisError as exc:
            metrics.ANSWER_CACHE_STORES.labels("error").inc()
            log.warning("answer cache unavailable, answer not kept", extra={"error": str(exc)})
            return False
        metrics.ANSWER_CACHE_STORES.labels("stored").inc()
        return True
