"""Every Redis key name of ours, and the tenant prefix they share (pure functions).

The one home of the keyspace: the webhook, the queue, the worker's engine, storage's session
store and archiver, the delivery side and the load tests ask this module for a key; none builds
one itself. It sits in the lowest layer so every one of them may import it.

Every key of ours starts with ``sb:{tenant_id}:`` (`tenant_prefix`); rq's own keys (``rq:job:*``,
``rq:queue:*``, registries, workers) keep rq's names so rq's tools see normal jobs. No key carries
a Redis Cluster hash tag: a tenant's keys live on one (non-cluster) Redis, and the Lua scripts
touch several of them (and rq's) in one call. A hash tag, if ever needed, goes into
`tenant_prefix` here. A conversation is addressed by ``ref``, a short hash of the customer id,
so phone numbers never appear in key names or rq job ids:

    sb:{t}:dedupe:{message_id}       STRING  SET NX EX dedupe_ttl: message already accepted
    sb:{t}:raw                       STREAM  raw webhook bodies (b, t, k, id), approx. trimmed
    sb:{t}:thr:{ref}:{minute}        STRING  INCR per customer per 60 s window (throttle)
    sb:{t}:active                    SET     refs with messages not yet acknowledged (sweeper)
    sb:{t}:sweeper                   STRING  SET NX PX: one worker sweeps per interval
    sb:{t}:c:{ref}:inbox             LIST    pending inbox entries, arrival order (flag + JSON)
    sb:{t}:c:{ref}:proc              LIST    entries of the turn being processed (until acked)
    sb:{t}:c:{ref}:attempt           STRING  attempt number of the turn held in `proc`
    sb:{t}:c:{ref}:lease             STRING  "q:{job}" drain queued / "r:{job}:{nonce}" running
    sb:{t}:dead                      LIST    dead-lettered turns (JSON), newest first
    sb:{t}:sent:{turn_id}            STRING  idempotent-delivery marker of one turn (echo bot)
    sb:{t}:turnplan:{turn_id}        STRING  the engine's plan of one turn (replayed on retry)
    sb:{t}:session:{customer_id}     STRING  the conversation's session JSON (storage.sessions)
    sb:{t}:dlrseen:{pmid}:{state}    STRING  SET NX EX dedupe_ttl: delivery report seen
    sb:{t}:dlr                       STREAM  delivery reports (field r), webhook -> consumer
    sb:{t}:send-rate:{number}        STRING  GCRA state of one integrated number's send rate
    sb:{t}:sent:{turn_id}:{seq}      STRING  claim/outcome of reply `seq` of a turn (msg91.claims)
    sb:{t}:outrep:{customer_id}      ZSET    outbound reports naming no recorded send (indoubt)
    sb:{t}:msg91:health              HASH    last MSG91 send outcome (msg91.health), EX
    sb:{t}:answer:{digest}           STRING  a cached LLM answer (engine.answers), EX ttl
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def tenant_prefix(tenant_id: str) -> str:
    return f"sb:{tenant_id}:"


def turn_plan_key(tenant_id: str, turn_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}turnplan:{turn_id}"


def answer_key(tenant_id: str, digest: str) -> str:
    """A cached LLM answer (`engine.answers`); `digest` is a sha256 hex of its ingredients."""
    return f"{tenant_prefix(tenant_id)}answer:{digest}"


def session_key(tenant_id: str, customer_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}session:{customer_id}"


def sweeper_lock_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}sweeper"


def dlr_seen_key(tenant_id: str, report_id: str) -> str:
    """`report_id` is ``{provider_message_id}:{state}`` (`webhook.reports.dedupe_id`)."""
    return f"{tenant_prefix(tenant_id)}dlrseen:{report_id}"


def dlr_stream_key(tenant_id: str) -> str:
    """Stream of `DeliveryReport` JSON (field ``r``): written by the webhook's status endpoint
    (`webhook.reports`), read by the delivery-report consumer (`provider.dlr_consumer`)."""
    return f"{tenant_prefix(tenant_id)}dlr"


def send_rate_key(tenant_id: str, integrated_number: str) -> str:
    """GCRA state (theoretical arrival time) of one integrated number's send rate."""
    return f"{tenant_prefix(tenant_id)}send-rate:{integrated_number}"


def sent_marker_key(tenant_id: str, turn_id: str, seq: int) -> str:
    """Set once message `seq` of turn `turn_id` reached a terminal delivery outcome."""
    return f"{tenant_prefix(tenant_id)}sent:{turn_id}:{seq}"


def outbound_reports_key(tenant_id: str, customer_id: str) -> str:
    """Outbound delivery reports of `customer_id` naming no recorded send (`provider.indoubt`)."""
    return f"{tenant_prefix(tenant_id)}outrep:{customer_id}"


def msg91_health_key(tenant_id: str) -> str:
    """The last provider send outcome the workers saw (`provider.health`), read by
    ``/healthz/deps`` (the key keeps its MSG91-era name for both providers)."""
    return f"{tenant_prefix(tenant_id)}msg91:health"


def conversation_ref(customer_id: str) -> str:
    """Stable, key- and job-id-safe name of a conversation (24 hex chars)."""
    return hashlib.blake2b(customer_id.encode(), digest_size=12).hexdigest()


def turn_id_for(tenant_id: str, ref: str, first_message_id: str, size: int = 1) -> str:
    """Stable id of the turn of `size` messages that starts with `first_message_id` (same on
    every retry). The size is part of it, so when a failing coalesced turn is split to isolate a
    poison message, the first message's own turn is a new turn (its own plan and replies)."""
    key = f"{tenant_id}\x00{ref}\x00{first_message_id}"
    if size != 1:
        key += f"\x00{size}"
    return "t" + hashlib.sha256(key.encode()).hexdigest()[:31]


def drain_job_id(ref: str) -> str:
    """A fresh rq job id for one drain of conversation `ref` (only ``[A-Za-z0-9_-]``)."""
    return f"sbd-{ref}-{uuid.uuid4().hex[:16]}"


def ref_of_job_id(job_id: str) -> str | None:
    parts = job_id.split("-")
    return parts[1] if len(parts) == 3 and parts[0] == "sbd" else None


def dedupe_key(tenant_id: str, message_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}dedupe:{message_id}"


def raw_stream_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}raw"


def throttle_key(tenant_id: str, ref: str, window: int) -> str:
    return f"{tenant_prefix(tenant_id)}thr:{ref}:{window}"


def active_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}active"


def dead_letter_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}dead"


def sent_key(tenant_id: str, turn_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}sent:{turn_id}"


@dataclass(frozen=True, slots=True)
class ConversationKeys:
    """The mailbox of one conversation."""

    tenant_id: str
    ref: str
    inbox: str
    processing: str
    attempt: str
    lease: str


def conversation_keys(tenant_id: str, ref: str) -> ConversationKeys:
    base = f"{tenant_prefix(tenant_id)}c:{ref}:"
    return ConversationKeys(
        tenant_id=tenant_id,
        ref=ref,
        inbox=base + "inbox",
        processing=base + "proc",
        attempt=base + "attempt",
        lease=base + "lease",
    )
