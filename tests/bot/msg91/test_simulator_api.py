"""The simulator's send API over real HTTP: authkey, validation, recording, faults, rates."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from supportbot.msg91.simulator import cli
from supportbot.msg91.simulator.driver import SimulatorClient
from supportbot.msg91.simulator.process import RunningSimulator, start_simulator

NUMBER, CUSTOMER, AUTH_KEY = "919000000001", "919876543210", "test-authkey-1"
SESSION = "/api/v5/whatsapp/whatsapp-outbound-message/"
BULK = "/api/v5/whatsapp/whatsapp-outbound-message/bulk/"
HEADERS = {"authkey": AUTH_KEY, "accept": "application/json"}

TEXT = {"integrated_number": NUMBER, "recipient_number": CUSTOMER, "content_type": "text"}
TEXT = {**TEXT, "text": "Hi"}
BUTTONS = {
    "integrated_number": NUMBER,
    "recipient_number": CUSTOMER,
    "content_type": "interactive",
    "interactive": {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "Yes"}}]},
    },
}
LIST = {
    "integrated_number": NUMBER,
    "recipient_number": CUSTOMER,
    "content_type": "interactive",
    "interactive": {
        "type": "list",
        "body": {"text": "Pick"},
        "action": {"button": "Open", "sections": [{"rows": [{"id": "r1", "title": "One"}]}]},
    },
}
TEMPLATE = {
    "integrated_number": NUMBER,
    "content_type": "template",
    "payload": {
        "messaging_product": "whatsapp",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en", "policy": "deterministic"},
            "to_and_components": [
                {"to": [CUSTOMER], "components": {"body_1": {"type": "text", "value": "Asha"}}}
            ],
        },
    },
}
WRAPPER = {
    "integrated_number": NUMBER,
    "content_type": "text",
    "payload": {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "Hi"},
    },
}


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is _DROP:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return out


_DROP = object()
BTN = {"type": "reply", "reply": {"id": "x", "title": "T"}}


@pytest.fixture
async def http(sim_server: RunningSimulator) -> Any:
    async with httpx.AsyncClient(base_url=sim_server.url, headers=HEADERS) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "body"),
    [(SESSION, TEXT), (SESSION, BUTTONS), (SESSION, LIST), (BULK, TEMPLATE), (SESSION, WRAPPER)],
    ids=["text", "buttons", "list", "template", "wrapper-text"],
)
async def test_valid_bodies_are_accepted_and_recorded_exactly(
    http: httpx.AsyncClient, sim: SimulatorClient, path: str, body: dict[str, Any]
) -> None:
    response = await http.post(path, json=body)
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == "success" and doc["hasError"] is False
    assert doc["request_id"]
    [record] = await sim.messages(to=CUSTOMER)
    assert record["body"] == body
    assert record["outcome"] == "accepted" and record["authkey"] == "valid"
    assert record["message_ids"][0].startswith("wamid.")
    msg = await sim.message(record["message_ids"][0])
    assert msg["to"] == CUSTOMER and msg["request_id"] == doc["request_id"]


def _buttons(n: int) -> list[dict[str, Any]]:
    return [{"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(n)]


REJECTIONS = [
    (
        "four buttons",
        SESSION,
        _with(BUTTONS, "interactive.action.buttons", _buttons(4)),
        "at most 3",
    ),
    (
        "title 21 chars",
        SESSION,
        _with(BUTTONS, "interactive.action.buttons.0.reply.title", "x" * 21),
        "exceeds 20",
    ),
    ("no buttons", SESSION, _with(BUTTONS, "interactive.action.buttons", []), "buttons"),
    ("no body", SESSION, _with(BUTTONS, "interactive.body", _DROP), "body"),
    ("bad type", SESSION, _with(BUTTONS, "interactive.type", "carousel"), "interactive.type"),
    (
        "media header id",
        SESSION,
        _with(BUTTONS, "interactive.header", {"type": "image", "image": {"id": "123"}}),
        "link",
    ),
    (
        "11 rows",
        SESSION,
        _with(
            LIST,
            "interactive.action.sections.0.rows",
            [{"id": str(i), "title": "r"} for i in range(11)],
        ),
        "at most 10 rows",
    ),
    (
        "row title 25",
        SESSION,
        _with(LIST, "interactive.action.sections.0.rows.0.title", "x" * 25),
        "exceeds 24",
    ),
    ("list button 21", SESSION, _with(LIST, "interactive.action.button", "x" * 21), "exceeds 20"),
    ("missing text", SESSION, _with(TEXT, "text", _DROP), "text"),
    ("text too long", SESSION, _with(TEXT, "text", "x" * 4097), "4096"),
    ("no recipient", SESSION, _with(TEXT, "recipient_number", _DROP), "recipient"),
    ("bad recipient", SESSION, _with(TEXT, "recipient_number", "12ab"), "recipient"),
    ("unknown number", SESSION, _with(TEXT, "integrated_number", "919999999999"), "not registered"),
    ("no number", SESSION, _with(TEXT, "integrated_number", _DROP), "integrated_number"),
    ("media-flat-form", SESSION, _with(TEXT, "content_type", "image"), "payload form"),
    ("template on session", SESSION, _with(TEXT, "content_type", "template"), "bulk"),
    (
        "newline param",
        BULK,
        _with(
            TEMPLATE,
            "payload.template.to_and_components.0.components.body_1.value",
            "a\nb",
        ),
        "next line",
    ),
    ("no template name", BULK, _with(TEMPLATE, "payload.template.name", ""), "template name"),
    (
        "empty to",
        BULK,
        _with(TEMPLATE, "payload.template.to_and_components.0.to", []),
        "'to'",
    ),
    ("template no lang", BULK, _with(TEMPLATE, "payload.template.language", _DROP), "language"),
    ("text on bulk", BULK, TEXT, "content_type must be 'template'"),
]


@pytest.mark.parametrize(
    ("path", "body", "message"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
async def test_invalid_bodies_are_rejected_like_msg91(
    http: httpx.AsyncClient, sim: SimulatorClient, path: str, body: dict[str, Any], message: str
) -> None:
    response = await http.post(path, json=body)
    assert response.status_code == 400
    doc = response.json()
    assert doc["status"] == "fail" and doc["hasError"] is True
    assert message in doc["message"]
    [record] = await sim.messages()
    assert record["outcome"] == "rejected" and record["body"] == body
    assert record["message_ids"] == []


@pytest.mark.parametrize(
    ("headers", "state"),
    [({}, "missing"), ({"authkey": "wrong"}, "invalid")],
)
async def test_authkey_is_required(
    sim_server: RunningSimulator, sim: SimulatorClient, headers: dict[str, str], state: str
) -> None:
    async with httpx.AsyncClient(base_url=sim_server.url, headers=headers) as c:
        response = await c.post(SESSION, json=TEXT)
        assert response.status_code == 401
        assert (await c.get("/api/v5/whatsapp/whatsapp-activation/")).status_code == 401
    [record] = await sim.messages()
    assert (record["outcome"], record["authkey"]) == ("unauthorized", state)


async def test_non_json_and_wrong_content_type(http: httpx.AsyncClient) -> None:
    bad = await http.post(
        SESSION, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_JSON"
    form = await http.post(SESSION, data={"a": "b"})
    assert form.status_code == 400 and form.json()["code"] == "INVALID_CONTENT_TYPE"


async def test_activation_lists_numbers(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v5/whatsapp/whatsapp-activation/")
    assert response.json()["data"] == [
        {"integrated_number": "919000000001"},
        {"integrated_number": "919000000002"},
    ]


async def test_recordings_filter_by_recipient_and_outcome(
    http: httpx.AsyncClient, sim: SimulatorClient
) -> None:
    other = "447700900123"
    await http.post(SESSION, json=TEXT)
    await http.post(SESSION, json=_with(TEXT, "recipient_number", other))
    await http.post(SESSION, json=_with(TEXT, "text", ""))
    assert len(await sim.messages()) == 3
    assert [m["to"] for m in await sim.messages(to=other)] == [[other]]
    assert len(await sim.accepted(CUSTOMER)) == 1
    assert len(await sim.messages(outcome="rejected")) == 1
    seq = (await sim.messages())[0]["seq"]
    assert len(await sim.messages(after=seq)) == 2


async def test_scripted_faults_then_success(http: httpx.AsyncClient, sim: SimulatorClient) -> None:
    await sim.fail_next(429, count=2, retry_after=1.5)
    await sim.fail_next(502, html=True)
    first = await http.post(SESSION, json=TEXT)
    assert first.status_code == 429 and first.headers["retry-after"] == "1.5"
    assert first.json()["code"] == "130429"
    assert (await http.post(SESSION, json=TEXT)).status_code == 429
    proxy = await http.post(SESSION, json=TEXT)
    assert proxy.status_code == 502 and proxy.headers["content-type"].startswith("text/html")
    assert (await http.post(SESSION, json=TEXT)).status_code == 200
    outcomes = [m["outcome"] for m in await sim.messages()]
    assert outcomes == ["fault", "fault", "fault", "accepted"]


async def test_fault_scoped_to_bulk_endpoint(http: httpx.AsyncClient, sim: SimulatorClient) -> None:
    await sim.fail_next(503, path="bulk")
    assert (await http.post(SESSION, json=TEXT)).status_code == 200
    assert (await http.post(BULK, json=TEMPLATE)).status_code == 503
    assert (await http.post(BULK, json=TEMPLATE)).status_code == 200


async def test_random_faults_and_runtime_config(
    http: httpx.AsyncClient, sim: SimulatorClient
) -> None:
    await sim.configure(rate_429=1.0)
    assert (await http.post(SESSION, json=TEXT)).status_code == 429
    await sim.configure(rate_429=0.0, rate_5xx=1.0)
    assert (await http.post(SESSION, json=TEXT)).status_code in (500, 502, 503)
    await sim.configure(rate_5xx=0.0, latency_ms=[150, 150])
    response = await http.post(SESSION, json=TEXT)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.15
    config = await sim.config()
    assert config["auth_keys"] == ["***"] and config["latency_ms"] == [150.0, 150.0]


async def test_per_number_rate_is_enforced(http: httpx.AsyncClient, sim: SimulatorClient) -> None:
    await sim.configure(max_per_window=3, rate_window_seconds=60, retry_after=7)
    codes = [(await http.post(SESSION, json=TEXT)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = await sim.messages(outcome="rate_limited")
    assert len(limited) == 2 and limited[0]["response"]["code"] == "130429"


async def test_reset_restores_start_config(sim: SimulatorClient) -> None:
    await sim.configure(rate_429=1.0, webhook_format="meta")
    await sim.reset()
    config = await sim.config()
    assert config["rate_429"] == 0.0 and config["webhook_format"] == "msg91"


def test_cli_flags_build_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_SIM_AUTH_KEYS", "k2, k3")
    args = cli.parser().parse_args(
        [
            "--number",
            "+919000000001",
            "--auth-key",
            "k1",
            "--bot-url",
            "http://127.0.0.1:8080/",
            "--webhook-secret",
            "sec",
            "--webhook-format",
            "meta",
            "--latency-ms",
            "10:50",
            "--dlr-order",
            "reverse",
            "--dlr-duplicates",
            "2",
            "--template",
            "order_update:en=2",
            "--template",
            "hello=0",
            "--enforce-window",
        ]
    )
    config = cli.config_from_args(args)
    assert config.auth_keys == ["k1", "k2", "k3"]
    assert config.numbers == ["919000000001"]
    assert config.default_route.inbound_url == "http://127.0.0.1:8080/webhooks/msg91/inbound"
    assert config.default_route.status_url == "http://127.0.0.1:8080/webhooks/msg91/status"
    assert config.default_route.secret == "sec"
    assert config.latency_ms == (10.0, 50.0)
    assert config.templates == {"order_update:en": 2, "hello": 0}
    assert (config.webhook_format, config.dlr_order, config.dlr_duplicates) == (
        "meta",
        "reverse",
        2,
    )
    assert config.enforce_window


async def test_open_mode_without_auth_keys() -> None:
    """With no --auth-key the simulator accepts requests without an authkey (dev default)."""
    with start_simulator(["--number", NUMBER]) as sim:
        async with httpx.AsyncClient(base_url=sim.url) as c:
            assert (await c.post(SESSION, json=TEXT)).status_code == 200
        async with SimulatorClient(sim.url) as driver:
            [record] = await driver.messages()
            assert record["authkey"] == "open"
