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

# The HS256 example token of jwt.io (secret "your-256-bit-secret"): made by another
# implementation, so accepting its signature shows the standard is followed.
JWT_IO_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def token(**claims: object) -> str:
    return mint_token(SECRET, agent="alice", tenant="acme", ttl_seconds=600, now=NOW, **claims)


def test_round_trip() -> None:
    claims = verify_token(token(), SECRET, tenant="acme", now=NOW + 10)
    assert (claims.agent, claims.tenant, claims.author) == ("alice", "acme", "agent:alice")
    assert claims.expires_at == NOW + 600 and claims.issued_at == NOW
    header = json.loads(base64.urlsafe_b64decode(token().split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_interoperates_with_other_hs256_implementations() -> None:
    with pytest.raises(TokenError, match="'exp'"):  # signature accepted, then claims checked
        verify_token(JWT_IO_TOKEN, b"your-256-bit-secret", tenant="acme", now=NOW)
    tampered = JWT_IO_TOKEN[:-2] + ("A" if JWT_IO_TOKEN[-2] != "A" else "B") + JWT_IO_TOKEN[-1]
    with pytest.raises(TokenError, match="signature"):
        verify_token(tampered, b"your-256-bit-secret", tenant="acme", now=NOW)


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
            lambda: b64({"alg": "none"}) + "." + b64({"sub": "a", "tenant": "acme"}) + ".x",
            NOW,
            "HS256",
        ),
        (lambda: b64({"alg": "HS512"}) + "." + b64({"sub": "a"}) + ".x", NOW, "HS256"),
    ],
)
def test_rejections(make: object, now: float, reason: str) -> None:
    assert callable(make)
    with pytest.raises(TokenError, match=reason):
        verify_token(make(), SECRET, tenant="acme", now=now)


def test_leeway_and_not_before() -> None:
    verify_token(token(), SECRET, tenant="acme", now=NOW + 600 + 29)  # clock skew tolerated
    head = b64({"alg": "HS256", "typ": "JWT"})
    cases: list[tuple[dict[str, object], str]] = [
        ({"sub": "a", "tenant": "acme", "exp": NOW + 60, "nbf": NOW + 120}, "not valid yet"),
        ({"sub": "bad agent!", "tenant": "acme", "exp": NOW + 60}, "'sub'"),
        ({"sub": "a", "tenant": "acme", "exp": "soon"}, "'exp'"),
        ({"sub": "a", "tenant": "acme", "exp": True}, "'exp'"),
    ]
    for claims, reason in cases:
        body = b64(claims)
        signature = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
        signed = f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
        with pytest.raises(TokenError, match=reason):
            verify_token(signed, SECRET, tenant="acme", now=NOW)


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
