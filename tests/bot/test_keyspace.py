"""The Redis key names are data that outlives a deploy: pin every one (`supportbot.keyspace`)."""

from __future__ import annotations

from supportbot import keyspace as k


def test_every_key_name_is_pinned() -> None:
    t = "acme"
    assert k.tenant_prefix(t) == "sb:acme:"
    assert k.dedupe_key(t, "m1") == "sb:acme:dedupe:m1"
    assert k.raw_stream_key(t) == "sb:acme:raw"
    assert k.throttle_key(t, "r1", 7) == "sb:acme:thr:r1:7"
    assert k.active_key(t) == "sb:acme:active"
    assert k.sweeper_lock_key(t) == "sb:acme:sweeper"
    assert k.dead_letter_key(t) == "sb:acme:dead"
    assert k.sent_key(t, "t1") == "sb:acme:sent:t1"
    assert k.turn_plan_key(t, "t1") == "sb:acme:turnplan:t1"
    assert k.session_key(t, "c1") == "sb:acme:session:c1"
    assert k.dlr_seen_key(t, "p1:delivered") == "sb:acme:dlrseen:p1:delivered"
    assert k.dlr_stream_key(t) == "sb:acme:dlr"
    assert k.send_rate_key(t, "9190") == "sb:acme:send-rate:9190"
    assert k.sent_marker_key(t, "t1", 2) == "sb:acme:sent:t1:2"
    assert k.outbound_reports_key(t, "c1") == "sb:acme:outrep:c1"
    c = k.conversation_keys(t, "r1")
    assert (c.inbox, c.processing, c.attempt, c.lease) == (
        "sb:acme:c:r1:inbox",
        "sb:acme:c:r1:proc",
        "sb:acme:c:r1:attempt",
        "sb:acme:c:r1:lease",
    )
