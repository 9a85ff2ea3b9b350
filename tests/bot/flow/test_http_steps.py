"""HTTP steps in flows: validation (line-numbered errors, URL safety, retries only when
idempotent, secrets only in headers, the allow-list) and the pure rules around the call (the
`HTTPCall` effect, URL-encoded slots, extraction, branches, the fallback, pending messages)."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import JsonValue

from supportbot.flow import (
    HTTPResult,
    abandon_http,
    continue_after_http,
    decide,
    load_flow_text,
    validate_flow_text,
)
from supportbot.flow.cli import main as flow_cli
from supportbot.flow.httppolicy import blocked_address, url_problem
from supportbot.flow.render import extract

from .conftest import Msg

FLOW = """\
version: 1
name: shop
start: menu
steps:
  menu:
    text: "Pick one"
    buttons:
      - {id: track, title: "Track my order", goto: ask_order}
  ask_order:
    text: "Your order number?"
    ask: {slot: order_id, pattern: 'ACME-?\\d{5}'}
    next: lookup
  lookup:
    text: "Looking up {{order_id}}..."
    http:
      url: "https://orders.example/api/orders/{{order_id}}?lang=en"
      headers: {X-Api-Key: "{{secret:api-key}}", X-Order: "{{order_id}}"}
      timeout_seconds: 2
      retries: 2
      extract: {order_status: status, eta: "$.shipment.eta"}
      on_success: found
      on_not_found: unknown
      on_timeout: slow
  found:
    text: "Order {{order_id}} is {{order_status}}, arriving {{eta|soon}}."
    action: end
  unknown:
    text: "We can't find {{order_id}}."
    action: end
  slow:
    text: "Our order system is slow, try again later."
    action: end
fallback:
  message: "Sorry, something went wrong."
  offer_human: true
"""


def _with(http_block: str) -> str:
    head = FLOW.split("    http:\n")[0]
    tail = FLOW.split("      on_timeout: slow\n")[1]
    tail = tail.replace("Order {{order_id}} is {{order_status}}, arriving {{eta|soon}}.", "Ok.")
    return head + textwrap.indent(textwrap.dedent(http_block), "    ") + tail


def test_example_http_flow_is_valid() -> None:
    assert validate_flow_text(FLOW) == []
    assert validate_flow_text(FLOW, http_allow_hosts=[]) == []


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ('http: {url: "https://{{order_id}}.example/x"}', "host of the URL must be written out"),
        ('http: {url: "ftp://orders.example/x"}', "must start with https://"),
        ('http: {url: "https://u:pw@orders.example/x"}', "credentials in the URL"),
        ('http: {url: "https://orders.example/{{secret:k}}"}', "only appear in header values"),
        ('http: {url: "https://orders.example/x", method: POST, retries: 1}', "could act twice"),
        ('http: {url: "https://orders.example/x", body: {a: 1}}', "has no body"),
        ('http: {url: "https://orders.example/x", timeout_seconds: 60}', "less than or equal"),
        ('http: {url: "https://orders.example/x", extract: {s: "a..b"}}', "extract paths"),
        ('http: {url: "https://orders.example/x", on_error: nowhere}', "unknown step 'nowhere'"),
        ('http: {url: "https://orders.example/{{nope}}"}', "unknown variable {{nope}}"),
        ('http: {url: "https://orders.example/x", headers: {Host: a}}', "is set by the bot"),
        (
            'http: {url: "https://orders.example/x", method: POST, body: {k: "{{secret:k}}"}}',
            "only appear in header values",
        ),
    ],
)
def test_invalid_http_blocks_name_line_and_field(block: str, needle: str) -> None:
    errors = validate_flow_text(_with(block + "\n"))
    assert errors, block
    line = FLOW.split("\n").index("    http:") + 1
    assert any(needle in e for e in errors), errors
    assert all(e.startswith(f"line {line}: steps.lookup") for e in errors if needle in e), errors


def test_http_step_cannot_have_next() -> None:
    text = _with('http: {url: "https://orders.example/x"}\nnext: found\n')
    assert any("not next" in e for e in validate_flow_text(text))


def test_plain_http_needs_the_allow_list() -> None:
    text = _with('http: {url: "http://orders.internal:8080/x"}\n')
    assert validate_flow_text(text) == []  # allow-list unknown: checked at call time
    errors = validate_flow_text(text, http_allow_hosts=["other"])
    assert any("plain http:// to orders.internal is refused" in e for e in errors), errors
    assert validate_flow_text(text, http_allow_hosts=["orders.internal"]) == []
    assert validate_flow_text(text, http_allow_hosts=["orders.internal:8080"]) == []
    assert validate_flow_text(text, http_allow_hosts=["orders.internal:9"]) != []


def test_literal_metadata_and_private_addresses_are_refused() -> None:
    meta = _with('http: {url: "https://169.254.169.254/latest/meta-data"}\n')
    assert any("metadata" in e for e in validate_flow_text(meta, http_allow_hosts=[]))
    private = _with('http: {url: "https://10.0.0.7/x"}\n')
    assert any("private" in e for e in validate_flow_text(private, http_allow_hosts=[]))
    assert validate_flow_text(private, http_allow_hosts=["10.0.0.7"]) == []
    # metadata stays refused even when allow-listed
    assert blocked_address("169.254.169.254", allow_listed=True) is not None
    assert blocked_address("fd00:ec2::254", allow_listed=True) is not None
    assert blocked_address("fe80::1", allow_listed=True) is not None
    assert blocked_address("::ffff:127.0.0.1", allow_listed=False) is not None
    assert blocked_address("127.0.0.1", allow_listed=True) is None
    assert blocked_address("93.184.216.34", allow_listed=False) is None
    assert url_problem("https", "orders.example", None, []) is None


def _to_lookup(msg: Msg, now: datetime, order: str = "ACME-12345"):  # type: ignore[no-untyped-def]
    flow = load_flow_text(FLOW)
    first = decide(flow, None, [msg(reply_id="track")], now)
    return flow, decide(flow, first.state, [msg(order)], now)


def test_entering_an_http_step_yields_the_call(msg: Msg, open_now: datetime) -> None:
    _, decision = _to_lookup(msg, open_now)
    call = decision.http
    assert call is not None
    assert [m.text for m in decision.messages] == ["Looking up ACME-12345..."]
    assert call.step == "lookup" and call.method == "GET"
    assert call.url == "https://orders.example/api/orders/ACME-12345?lang=en"
    assert dict(call.headers) == {"X-Api-Key": "{{secret:api-key}}", "X-Order": "ACME-12345"}
    assert (call.timeout_seconds, call.retries) == (2.0, 2)
    assert decision.state.step == "lookup"


def test_slots_are_url_encoded_in_the_url(msg: Msg, open_now: datetime) -> None:
    text = FLOW.replace("pattern: 'ACME-?\\d{5}'", "pattern: '.+'")
    flow = load_flow_text(text)
    first = decide(flow, None, [msg(reply_id="track")], open_now)
    decision = decide(flow, first.state, [msg("../admin?x=1#&y")], open_now)
    assert decision.http is not None
    assert decision.http.url == (
        "https://orders.example/api/orders/..%2Fadmin%3Fx%3D1%23%26y?lang=en"
    )


def test_success_extracts_slots_and_enters_on_success(msg: Msg, open_now: datetime) -> None:
    flow, decision = _to_lookup(msg, open_now)
    assert decision.http is not None
    data: JsonValue = {"status": "shipped", "shipment": {"eta": "Friday"}, "email": "a@b.example"}
    after = continue_after_http(
        flow, decision.state, decision.http, HTTPResult("success", 200, data), (), open_now
    )
    assert [m.text for m in after.messages] == ["Order ACME-12345 is shipped, arriving Friday."]
    assert after.state.slots["order_status"] == "shipped"
    assert after.state.step is None and after.http is None
    assert after.outcome == "http"
    # a missing path clears the slot (the default applies)
    after = continue_after_http(
        flow,
        decision.state,
        decision.http,
        HTTPResult("success", 200, {"status": True}),
        (),
        open_now,
    )
    assert [m.text for m in after.messages] == ["Order ACME-12345 is true, arriving soon."]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("not_found", "We can't find ACME-12345."), ("timeout", "Our order system is slow")],
)
def test_branches(msg: Msg, open_now: datetime, outcome: str, expected: str) -> None:
    flow, decision = _to_lookup(msg, open_now)
    assert decision.http is not None
    result = HTTPResult(outcome, 404 if outcome == "not_found" else None)  # type: ignore[arg-type]
    after = continue_after_http(flow, decision.state, decision.http, result, (), open_now)
    assert after.messages[0].text.startswith(expected)


def test_missing_branch_gets_the_fallback_not_silence(msg: Msg, open_now: datetime) -> None:
    flow, decision = _to_lookup(msg, open_now)
    assert decision.http is not None
    after = continue_after_http(
        flow, decision.state, decision.http, HTTPResult("error", 500), (), open_now
    )
    assert [m.text for m in after.messages] == ["Sorry, something went wrong."]
    assert after.messages[0].buttons  # the 'talk to a human' offer
    assert after.outcome == "http_fallback" and after.state.step is None


def test_messages_after_the_call_wait_and_are_handled_after_it(
    msg: Msg, open_now: datetime
) -> None:
    flow = load_flow_text(FLOW)
    first = decide(flow, None, [msg(reply_id="track")], open_now)
    decision = decide(flow, first.state, [msg("ACME-12345"), msg(reply_id="track")], open_now)
    assert decision.http is not None and len(decision.pending) == 1
    after = continue_after_http(
        flow,
        decision.state,
        decision.http,
        HTTPResult("not_found", 404),
        decision.pending,
        open_now,
    )
    assert [m.text for m in after.messages] == ["We can't find ACME-12345.", "Your order number?"]
    assert after.state.awaiting_slot == "order_id"


def test_abandoned_chain_answers_with_the_fallback(msg: Msg, open_now: datetime) -> None:
    flow, decision = _to_lookup(msg, open_now)
    after = abandon_http(flow, decision.state, (), open_now)
    assert [m.text for m in after.messages] == ["Sorry, something went wrong."]
    assert after.http is None and after.state.step is None


def test_cli_validate_covers_http_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS", raising=False)
    good = tmp_path / "good.yaml"
    good.write_text(FLOW)
    assert flow_cli(["validate", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(_with('http: {url: "https://{{order_id}}.evil/x"}\n'))
    assert flow_cli(["validate", str(bad)]) == 1
    line = FLOW.split("\n").index("    http:") + 1
    assert f"bad.yaml:line {line}: steps.lookup.http.url: the host" in capsys.readouterr().err
    internal = tmp_path / "internal.yaml"
    internal.write_text(_with('http: {url: "http://orders.svc:8080/x"}\n'))
    assert flow_cli(["validate", str(internal)]) == 0  # no allow-list known: not checked
    assert flow_cli(["validate", "--http-allow-host", "other", str(internal)]) == 1
    assert "plain http:// to orders.svc is refused" in capsys.readouterr().err
    assert flow_cli(["validate", "--http-allow-host", "orders.svc", str(internal)]) == 0
    monkeypatch.setenv("SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS", "a.example, b.example")
    assert flow_cli(["validate", str(internal)]) == 1
    assert flow_cli(["show", str(good)]) == 0
    assert "lookup: http GET https://orders.example/api/orders/{{order_id}}" in (
        capsys.readouterr().out
    )


def test_allow_list_entries_with_the_default_port_match() -> None:
    text = _with('http: {url: "http://orders.svc/x"}\n')
    assert validate_flow_text(text, http_allow_hosts=["orders.svc:80"]) == []
    assert validate_flow_text(text, http_allow_hosts=["orders.svc:8080"]) != []


def test_a_branch_to_a_silent_step_is_refused() -> None:
    text = _with('http: {url: "https://orders.example/x", on_error: quiet}\n').replace(
        "fallback:", "  quiet:\n    action: end\nfallback:", 1
    )
    errors = validate_flow_text(text)
    assert any("steps.lookup.http.on_error: step 'quiet' sends nothing" in e for e in errors)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status", "shipped"),
        ("$.status", "shipped"),
        ("shipment.eta", "Friday"),
        ("items.1.name", "Lamp"),
        ("items.2.name", None),
        ("items.x", None),
        ("count", "2"),
        ("price", "9.5"),
        ("gift", "false"),
        ("note", None),
        ("shipment", None),
        ("items", None),
        ("missing.deep", None),
    ],
)
def test_extract_paths(path: str, expected: str | None) -> None:
    data: JsonValue = {
        "status": "shipped",
        "shipment": {"eta": "Friday"},
        "items": [{"name": "Mug"}, {"name": "Lamp"}],
        "count": 2,
        "price": 9.5,
        "gift": False,
        "note": None,
    }
    assert extract(data, path) == expected
