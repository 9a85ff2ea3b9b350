"""HS256 agent tokens (pure) and the `supportbot agent-token` command."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from supportbot.agentapi import cli
from supportbot.agentapi.tokens import TokenError, mint_token, verify_token
from supportbot.cli import main as supportbot_main

SECRET = b"agent-api-test-secret-0123456789"
NOW = 1_800_000_000.0


def b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def token(**claims: object) -> str:
    return mint_token(SECRET, agent="alice", tenant="acme", ttl_seconds=600, now=NOW, **claims)


def hand_signed(claims: dict[str, object], secret: bytes = SECRET) -> str:
    """An HS256 token made with the standard library only (an independent implementation)."""
    head, body = b64({"alg": "HS256", "typ": "JWT"}), b64(claims)
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_round_trip() -> None:
    claims = verify_token(token(), SECRET, tenant="acme", now=NOW + 10)
    assert (claims.agent, claims.tenant, claims.author) == ("alice", "acme", "agent:alice")
    assert claims.expires_at == NOW + 600 and claims.issued_at == NOW
    header = json.loads(base64.urlsafe_b64decode(token().split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_interoperates_with_other_hs256_implementations() -> None:
    made = hand_signed({"sub": "bob", "tenant": "acme", "exp": NOW + 60})
    assert verify_token(made, SECRET, tenant="acme", now=NOW).agent == "bob"
    tampered = made[:-2] + ("A" if made[-2] != "A" else "B") + made[-1]
    with pytest.raises(TokenError, match="signature"):
        verify_token(tampered, SECRET, tenant="acme", now=NOW)


def test_secrets_shorter_than_rfc_7518_are_refused() -> None:
    short = b"your-256-bit-secret"  # jwt.io's example key: 19 bytes, below HS256's 32
    made = hand_signed({"sub": "bob", "tenant": "acme", "exp": NOW + 60}, short)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        verify_token(made, short, tenant="acme", now=NOW)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 10**400}, "'exp' out of range"),
        ({"exp": -(10**400)}, "'exp' out of range"),
        ({"exp": float("inf")}, "'exp' out of range"),
        ({"exp": float("nan")}, "'exp' out of range"),
        ({"exp": 253_402_300_800}, "'exp' out of range"),  # 10000-01-01
        ({"exp": -1}, "'exp' out of range"),
        ({"exp": NOW + 60, "nbf": 10**400}, "'nbf' out of range"),
        ({"exp": NOW + 60, "iat": -(10**400)}, "'iat' out of range"),
        ({"exp": NOW + 60, "iat": "yesterday"}, "'iat'"),
        ({"exp": None}, "'exp' missing"),
        ({}, "'exp' missing"),
    ],
)
def test_time_claims_are_bounded(claims: dict[str, object], reason: str) -> None:
    made = hand_signed({"sub": "a", "tenant": "acme", **claims})
    with pytest.raises(TokenError, match=reason):
        verify_token(made, SECRET, tenant="acme", now=NOW)


def test_the_last_representable_second_is_accepted() -> None:
    made = hand_signed({"sub": "a", "tenant": "acme", "exp": 253_402_300_799})
    assert verify_token(made, SECRET, tenant="acme", now=NOW).expires_at == 253_402_300_799.0


@pytest.mark.parametrize(
    ("make", "now", "reason"),
    [
        (lambda: token(), NOW + 600 + 31, "expired"),
        (
            lambda: mint_token(SECRET, agent="a", tenant="other", ttl_seconds=60, now=NOW),
            NOW,
            "tenant",
        ),
        (
            lambda: mint_token(b"x" * 32, agent="a", tenant="acme", ttl_seconds=60, now=NOW),
            NOW,
            "signature",
        ),
        (lambda: "abc.def", NOW, "malformed"),
        (lambda: "a.b.c.d", NOW, "malformed"),
        (lambda: "!!!.???.***", NOW, "malformed"),
        (lambda: "", NOW, "malformed"),
        (
            lambda: b64({"alg": "none"}) + "." + b64({"sub": "a", "tenant": "acme"}) + ".AAAA",
            NOW,
            "HS256",
        ),
        (lambda: b64({"alg": "HS512"}) + "." + b64({"sub": "a"}) + ".AAAA", NOW, "HS256"),
        (
            lambda: b64({"alg": "none"}) + "." + b64({"sub": "a", "tenant": "acme"}) + ".",
            NOW,
            "HS256",
        ),
    ],
)
def test_rejections(make: object, now: float, reason: str) -> None:
    assert callable(make)
    with pytest.raises(TokenError, match=reason):
        verify_token(make(), SECRET, tenant="acme", now=now)


def test_leeway_and_not_before() -> None:
    verify_token(token(), SECRET, tenant="acme", now=NOW + 600 + 29)  # clock skew tolerated
    cases: list[tuple[dict[str, object], str]] = [
        ({"sub": "a", "tenant": "acme", "exp": NOW + 60, "nbf": NOW + 120}, "not valid yet"),
        ({"sub": "bad agent!", "tenant": "acme", "exp": NOW + 60}, "'sub'"),
        ({"sub": 42, "tenant": "acme", "exp": NOW + 60}, "'sub'"),
        ({"sub": "a", "tenant": "acme", "exp": "soon"}, "'exp'"),
        ({"sub": "a", "tenant": "acme", "exp": True}, "'exp'"),
    ]
    for claims, reason in cases:
        with pytest.raises(TokenError, match=reason):
            verify_token(hand_signed(claims), SECRET, tenant="acme", now=NOW)


def test_mint_refuses_weak_input() -> None:
    with pytest.raises(ValueError, match="at least"):
        mint_token(b"short", agent="a", tenant="acme", ttl_seconds=60, now=NOW)
    with pytest.raises(ValueError, match="agent id"):
        mint_token(SECRET, agent="no spaces", tenant="acme", ttl_seconds=60, now=NOW)
    with pytest.raises(ValueError, match="ttl"):
        mint_token(SECRET, agent="a", tenant="acme", ttl_seconds=0, now=NOW)


def test_agent_token_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPPORTBOT_TENANT_ID", "acme")
    monkeypatch.setenv("SUPPORTBOT_JWT_SECRET", SECRET.decode())
    assert supportbot_main(["agent-token", "--agent", "alice", "--ttl", "120"]) == 0
    out = capsys.readouterr().out.strip()
    claims = verify_token(out, SECRET, tenant="acme", now=time.time())
    assert claims.agent == "alice" and 110 <= claims.expires_at - time.time() <= 121
    assert SECRET.decode() not in out

    monkeypatch.delenv("SUPPORTBOT_JWT_SECRET")
    assert cli.main(["--agent", "alice"]) == 2
    assert "SUPPORTBOT_JWT_SECRET" in capsys.readouterr().err
