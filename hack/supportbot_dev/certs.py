"""Certificates for the local control plane, made with the openssl CLI.

One CA signs the apiserver's serving certificate (127.0.0.1/localhost) and the client
certificates (admin in system:masters, and one per control-plane component); an RSA key pair
signs service-account tokens.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from supportbot_dev import procs


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        procs.apt_install("openssl")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_crt(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


def make_pki(directory: Path, clients: dict[str, str]) -> Pki:
    """Create the CA, serving cert, SA key pair and client certs (name -> 'CN/O' subject)."""
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=supportbot-local-ca",
        cwd=d,
    )
    (d / "serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    _sign(d, "apiserver", "/CN=kube-apiserver", "serving.ext")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in clients.items():
        _sign(d, name, subject, "client.ext")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    return Pki(d)


def sign_serving(
    pki: Pki, name: str, dns: list[str], *, client_too: bool = False
) -> tuple[Path, Path]:
    """A serving certificate from the CA for `dns` names (+ 127.0.0.1), `client_too` also for
    mutual TLS as a client. Returns (crt, key) in the PKI directory."""
    sans = ",".join([*(f"DNS:{n}" for n in dns), "IP:127.0.0.1"])
    usage = "serverAuth,clientAuth" if client_too else "serverAuth"
    (pki.dir / f"{name}.ext").write_text(f"subjectAltName={sans}\nextendedKeyUsage={usage}\n")
    _sign(pki.dir, name, f"/CN={dns[0]}", f"{name}.ext")
    return pki.dir / f"{name}.crt", pki.dir / f"{name}.key"


def _sign(d: Path, name: str, subject: str, ext: str) -> None:
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
        cwd=d,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        f"{name}.crt",
        "-days",
        "3650",
        "-extfile",
        ext,
        cwd=d,
    )
