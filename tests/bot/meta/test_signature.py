"""X-Hub-Signature-256 and the GET verification handshake (pure; reference §2.2)."""

from __future__ import annotations

import hashlib
import hmac

from supportbot.meta.signature import sign, verification_challenge, verify_signature

SECRET = "app-secret"
BODY = '{"object":"whatsapp_business_account","text":"Olá 👋"}'.encode()


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sign_is_hmac_sha256_of_the_raw_bytes_with_the_prefix() -> None:
    assert sign(SECRET, BODY) == "sha256=" + _hex(SECRET, BODY)


def test_a_valid_signature_verifies_and_case_does_not_matter() -> None:
    assert verify_signature(SECRET, BODY, "sha256=" + _hex(SECRET, BODY))
    assert verify_signature(SECRET.encode(), BODY, "sha256=" + _hex(SECRET, BODY).upper())


def test_wrong_secret_fails() -> None:
    assert not verify_signature(SECRET, BODY, sign("other-secret", BODY))


def test_missing_prefix_fails() -> None:
    assert not verify_signature(SECRET, BODY, _hex(SECRET, BODY))
    assert not verify_signature(SECRET, BODY, "sha1=" + _hex(SECRET, BODY))


def test_tampered_body_fails() -> None:
    header = sign(SECRET, BODY)
    assert not verify_signature(SECRET, BODY.replace(b"Ol", b"ol"), header)
    assert not verify_signature(SECRET, BODY + b" ", header)


def test_reserialised_json_is_not_the_raw_body() -> None:
    import json

    reserialised = json.dumps(json.loads(BODY)).encode()  # \u escapes for the emoji
    assert not verify_signature(SECRET, reserialised, sign(SECRET, BODY))


def test_missing_header_empty_secret_and_garbage_fail() -> None:
    assert not verify_signature(SECRET, BODY, None)
    assert not verify_signature(SECRET, BODY, "")
    assert not verify_signature("", BODY, sign("", BODY))
    assert not verify_signature(SECRET, BODY, "sha256=zzzé")


def _params(**overrides: str) -> dict[str, str]:
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    params.update(overrides)
    return params


def test_handshake_returns_the_challenge_when_mode_and_token_match() -> None:
    assert verification_challenge(_params(), "vt") == "1158201444"


def test_handshake_wrong_token_wrong_mode_or_missing_parts_is_refused() -> None:
    assert verification_challenge(_params(**{"hub.verify_token": "nope"}), "vt") is None
    assert verification_challenge(_params(**{"hub.mode": "unsubscribe"}), "vt") is None
    assert verification_challenge({"hub.mode": "subscribe", "hub.challenge": "1"}, "vt") is None
    assert verification_challenge({"hub.mode": "subscribe", "hub.verify_token": "vt"}, "vt") is None
    assert verification_challenge(_params(**{"hub.verify_token": ""}), "") is None
