"""Log masking (`observability.scrub`): phone numbers standing alone or in key/field positions are
masked; ids that merely contain long digit runs (job, turn, hex, uuid, wamid, request ids) and
dates are left intact. Request ids: which headers are kept, and records tagged per task."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from supportbot.keyspace import conversation_ref, drain_job_id, turn_id_for
from supportbot.observability import (
    MAX_REQUEST_ID_CHARS,
    JsonFormatter,
    current_request_id,
    mask_phone,
    request_id_from_header,
    request_scope,
    scrub,
)


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("customer 919876543210 wrote", "customer 91******3210 wrote"),
        ("call +91 98765 43210.", "call 91******3210."),
        ("to=919876543210&x=1", "to=91******3210&x=1"),
        ("(919876543210)", "(91******3210)"),
        ('{"phone": "919876543210"}', '{"phone": "91******3210"}'),
        ("919876543210@c.us", "91******3210@c.us"),
        ("GET /conversations/919876543210/messages", "GET /conversations/91******3210/messages"),
        # Redis keys that embed a customer id: ":" delimits fields, it does not protect
        ("sb:acme:drain:919876543210", "sb:acme:drain:91******3210"),
        ("sb:acme:session:919876543210 expired", "sb:acme:session:91******3210 expired"),
        ("retry 98765-43210 now", "retry 98****3210 now"),
    ],
)
def test_phone_numbers_are_masked(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "turn turn-3f2a9c1d-1700000000123 deferred",
        "turn-wamid.engine-test.17.1700000000123456789",
        "job rq:job:sbd-123456789012345678901234-0123456789abcdef failed",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "uuid 12345678-1234-4234-9234-123456789012",
        "hex 3f2a1234567890123abc",
        "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSMEFCQ0RFRjEyMzQ1Njc4OQA=",
        "wamid.1234567890123456",
        "request req_17000000001234 and req-1700000000123-42",
        "agent:alice:1700000000123abc",
        "at 2026-03-15 10:00:00+00:00 and 2026-03-15T10:00:00.123Z",
        "order AC-123456, pin 560001, ref 1234567",
        "sb:acme:sent:t3f2a19876543210aabbccddeeff0011:0",
    ],
)
def test_ids_and_dates_are_left_intact(text: str) -> None:
    assert scrub(text) == text


def test_the_project_ids_survive_whatever_digits_they_hold() -> None:
    for customer in ["919876543210", "US.13491208655302741918", "x"]:
        ref = conversation_ref(customer)
        for text in [drain_job_id(ref), turn_id_for("acme", ref, "wamid.1700000000123")]:
            assert scrub(f"drain {text} done") == f"drain {text} done"
    assert scrub("turn " + "t" + "1234567890" * 3 + "1") == "turn t" + "1234567890" * 3 + "1"


def test_mask_phone() -> None:
    assert mask_phone("+91 98765-43210") == "91******3210"
    assert mask_phone("123456") == "******"
    assert mask_phone(None) == ""


def test_the_json_formatter_scrubs_the_message_but_not_ids() -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "reply to %s in %s",
        ("919876543210", "turn-1700000000123"),
        None,
    )
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "reply to 91******3210 in turn-1700000000123"


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("abc-123", True),
        ("req-1700000000123-42", True),
        ("0f8c1b2e-2a4d-4c39-9a52-4c8e7f0a9b11", True),
        ("trace:span.1_x", True),
        ("x" * MAX_REQUEST_ID_CHARS, True),
        ("x" * (MAX_REQUEST_ID_CHARS + 1), False),
        ("", False),
        ("has space", False),
        ("new\nline", False),
        ('quote"', False),
        ("919876543210", False),  # phone-like: would leak into every log line unmasked
        (None, False),
    ],
)
def test_request_id_from_header(header: str | None, kept: bool) -> None:
    found = request_id_from_header(header)
    assert (found == header) is kept
    assert len(found) <= MAX_REQUEST_ID_CHARS


async def test_request_scope_tags_records_of_its_task_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("supportbot.test.rid")
    caplog.set_level(logging.INFO)

    async def turn(request_id: str) -> None:
        with request_scope(request_id):
            await asyncio.sleep(0)
            log.info("in %s", request_id)

    await asyncio.gather(turn("r-1"), turn("r-2"))
    log.info("outside")
    assert current_request_id() is None
    tagged = {r.getMessage(): getattr(r, "request_id", None) for r in caplog.records}
    assert tagged == {"in r-1": "r-1", "in r-2": "r-2", "outside": None}
    doc = json.loads(JsonFormatter().format(caplog.records[0]))
    assert doc["request_id"] == "r-1"
