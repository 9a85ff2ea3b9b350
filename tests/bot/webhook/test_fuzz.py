"""Property: whatever is posted (random JSON, MSG91/Meta-like shapes, random bytes), the real app
answers below 500, and every 2xx/4xx body is JSON."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings, strategies as st

from supportbot.webhook import testing as t
from supportbot.webhook.app import INBOUND_PATH, STATUS_PATH

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.integers(min_value=10**300, max_value=10**500)  # beyond float range
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)

KEYS = [
    *t.TEMPLATE_FIELDS, "bsuid", "status", "eventName", "statusUpdatedAt", "latitude",
    "longitude", "contacts", "reaction", "mimeType", "replyMsgId", "failureReason",
]  # fmt: skip
TYPES = [
    "text", "interactive", "button", "image", "document", "audio", "video", "sticker",
    "location", "contacts", "reaction", "order", "system", "unsupported", "referral", "",
]  # fmt: skip
STATES = ["sent", "delivered", "read", "failed", "Submitted", "played", "bogus", ""]

field_values = (
    json_values
    | st.sampled_from(
        ["", "null", "undefined", "{{x}}", t.NUMBER, t.CUSTOMER, "US.123", "1730092801"]
    )
    | st.sampled_from(TYPES + STATES)
    | json_values.map(json.dumps)  # stringified JSON, as MSG91 sends nested objects
)
msg91_like = st.dictionaries(st.sampled_from(KEYS), field_values, max_size=12).map(
    lambda d: {"integratedNumber": t.NUMBER, "customerNumber": t.CUSTOMER, **d}
)


@st.composite
def meta_like(draw: st.DrawFn) -> dict[str, Any]:
    message = draw(
        st.dictionaries(
            st.sampled_from(["from", "id", "timestamp", "type", "context", "from_user_id", *TYPES]),
            field_values,
            max_size=6,
        )
    )
    message.setdefault("type", draw(st.sampled_from(TYPES)))
    status = draw(
        st.dictionaries(
            st.sampled_from(["id", "status", "timestamp", "recipient_id", "errors"]),
            field_values | st.sampled_from(STATES),
            max_size=5,
        )
    )
    value: dict[str, Any] = {
        "metadata": {"display_phone_number": t.NUMBER},
        "messages": draw(st.sampled_from([[message], [message, message], message, None])),
        "statuses": draw(st.sampled_from([[status], [], status, "x"])),
        "contacts": draw(st.sampled_from([[], [{"wa_id": t.CUSTOMER}], None, [1]])),
    }
    entry = draw(
        st.sampled_from([[{"changes": [{"value": value}]}], [{"changes": value}], [value]])
    )
    return {"object": "whatsapp_business_account", "entry": entry}


async def post(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    response = await client.post(path, content=body, headers=t.headers())
    assert response.status_code < 500, (response.status_code, response.text, body[:500])
    payload = response.json()
    assert isinstance(payload, dict)
    if response.status_code >= 400:
        assert set(payload["error"]) == {"code", "message"}


@FUZZ
@given(doc=json_values)
async def test_random_json_never_5xx(client: httpx.AsyncClient, doc: Any) -> None:
    await post(client, INBOUND_PATH, json.dumps(doc).encode())


@FUZZ
@given(doc=msg91_like, path=st.sampled_from([INBOUND_PATH, STATUS_PATH]))
async def test_msg91_like_never_5xx(client: httpx.AsyncClient, doc: Any, path: str) -> None:
    await post(client, path, json.dumps(doc).encode())


@FUZZ
@given(doc=meta_like())
async def test_meta_like_never_5xx(client: httpx.AsyncClient, doc: Any) -> None:
    await post(client, INBOUND_PATH, json.dumps(doc).encode())


@FUZZ
@given(body=st.binary(max_size=512))
async def test_random_bytes_never_5xx(client: httpx.AsyncClient, body: bytes) -> None:
    await post(client, STATUS_PATH, body)
