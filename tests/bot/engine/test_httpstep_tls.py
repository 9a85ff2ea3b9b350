"""HTTPS to the fake order backend served with a certificate for `orders.test` from a test CA
(made with the openssl CLI): the name is resolved once, the request goes to the checked address,
and TLS still verifies the certificate for the name (SNI), so a name the certificate does not
cover fails, and so does a certificate from an unknown CA."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from supportbot.engine.httpstep import BackendCaller
from supportbot.flow import HTTPCall
from supportbot_dev.orders_backend import RunningBackend, start_backend


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    key = ("-newkey", "rsa:2048", "-nodes")
    _openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=flowhttp test CA", cwd=d)  # fmt: skip
    _openssl("req", *key, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=orders.test",
             cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=DNS:orders.test\n")
    signed_by_ca = ("-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial")
    _openssl("x509", "-req", "-in", "srv.csr", *signed_by_ca, "-out", "srv.crt", "-days", "2",
             "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


@pytest.fixture(scope="module")
def tls_backend(pki: Path) -> Iterator[RunningBackend]:
    backend = start_backend(pki / "backend.log", tls=(pki / "srv.crt", pki / "srv.key"))
    try:
        yield backend
    finally:
        backend.stop()


async def _call(pki: Path, backend: RunningBackend, host: str, *, trust: bool = True) -> str:
    async def resolver(name: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    context = ssl.create_default_context(cafile=str(pki / "ca.crt")) if trust else True
    caller = BackendCaller([host], None, resolver=resolver, verify=context)
    try:
        result = await caller.call(
            HTTPCall(
                step="lookup",
                method="GET",
                url=f"https://{host}:{backend.port}/api/orders/ACME-12345",
            )
        )
    finally:
        await caller.aclose()
    return f"{result.outcome} {result.status} {result.detail}"


async def test_https_to_the_pinned_address_verifies_the_name(
    pki: Path, tls_backend: RunningBackend
) -> None:
    assert (await _call(pki, tls_backend, "orders.test")).startswith("success 200")


async def test_a_name_the_certificate_does_not_cover_fails(
    pki: Path, tls_backend: RunningBackend
) -> None:
    assert (await _call(pki, tls_backend, "evil.test")).startswith("error None ConnectError")


async def test_an_unknown_ca_fails(pki: Path, tls_backend: RunningBackend) -> None:
    outcome = await _call(pki, tls_backend, "orders.test", trust=False)
    assert outcome.startswith("error None ConnectError")
