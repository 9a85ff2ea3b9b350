"""`make images`: the bot and operator images, built with podman (no Docker engine needed).

No public container registry is reachable here, so `python:3.11-slim-bookworm` cannot be
pulled. The Dockerfiles stay standard (their bases are build ARGs defaulting to that image);
this builds two local bases from the Debian mirror with mmdebstrap instead and passes them in:

- `supportbot-base`: Debian bookworm minbase + python3 (3.11) + ca-certificates, without
  documentation, manual pages and locales: the final stage's base;
- `supportbot-build-base`: the same plus python3-venv (pip): the build stage's base.

Both are made once (~1-2 min) and kept in the project's podman store under
$SUPPORTBOT_CACHE/containers (see `supportbot_dev.podman`); they are remade only when
`BASE_RECIPE` below changes. An image is rebuilt only when the hash of what goes into it (its
Dockerfile, pyproject.toml, README.md, bot/, operator/, the base image ids) changes; the hash is
stored as the image label `dev.supportbot.inputs`.

An SPDX SBOM of each image is written to $SUPPORTBOT_CACHE/containers/sbom/ when `syft` is
installed (PATH or $SUPPORTBOT_CACHE/bin). It is not built by default: `make sbom-tool` builds
syft from the Go module proxy, which took 37 min on this 2-core machine.

During the build pip reaches PyPI through the host's network (`--network host`); the host's CA
bundle and index settings are bind-mounted for the build's RUN steps only (never into a layer).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from supportbot_dev import podman
from supportbot_dev.procs import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]

SIZE_BUDGET_MB = 400
"""Each final image must stay below this (uncompressed, as podman reports it); tested.
Measured 345 MB: the Debian base 123 MB, the virtualenv 220 MB (the `kubernetes` client alone
is 126 MB)."""

BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "runtime": "python3,ca-certificates",
    "build": "python3-venv",
    "exclude": "/usr/share/doc/*,/usr/share/man/*,/usr/share/info/*,/usr/share/locale/*",
    "keep": "/usr/share/doc/*/copyright",
    # merge /usr with mmdebstrap's hook instead of Debian's usrmerge package (which pulls in the
    # whole of perl, ~55 MB)
    "hook_dir": "/usr/share/mmdebstrap/hooks/merged-usr",
}
INPUTS = ("pyproject.toml", "README.md", ".dockerignore", "bot", "operator")
"""What the Dockerfiles COPY (and so what decides whether an image is rebuilt)."""

INPUTS_LABEL = "dev.supportbot.inputs"

SYFT = "github.com/anchore/syft/cmd/syft@v1.57.2"
"""The SBOM generator (`make sbom-tool` builds it into $SUPPORTBOT_CACHE/bin)."""


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: str
    repository: str

    @property
    def ref(self) -> str:
        """The reference the chart's defaults name (`repository:appVersion`)."""
        return f"{self.repository}:{VERSION}"

    @property
    def local_ref(self) -> str:
        return podman.local_ref(self.ref)


BOT = Image("bot", "bot/Dockerfile", "supportbot")
OPERATOR = Image("operator", "operator/Dockerfile", "supportbot-operator")
IMAGES = (BOT, OPERATOR)


def _say(msg: str) -> None:
    print(f"[images] {msg}", file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    res = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


# -- bases ------------------------------------------------------------------------------------
def base_refs() -> tuple[str, str]:
    """(runtime base, build base) references for the current recipe."""
    key = hashlib.sha256(repr(sorted(BASE_RECIPE.items())).encode()).hexdigest()[:12]
    suite = BASE_RECIPE["suite"]
    return (
        f"localhost/supportbot-base:{suite}-{key}",
        f"localhost/supportbot-build-base:{suite}-{key}",
    )


def ensure_bases() -> tuple[str, str]:
    runtime_ref, build_ref = base_refs()
    if podman.image_exists(runtime_ref) and podman.image_exists(build_ref):
        return runtime_ref, build_ref
    _say(f"making the local Debian {BASE_RECIPE['suite']} bases with mmdebstrap (once)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="supportbot-base-") as tmp:
        runtime_tar, build_tar = Path(tmp) / "runtime.tar", Path(tmp) / "build.tar"
        dpkg = [f"--dpkgopt=path-exclude={p}" for p in BASE_RECIPE["exclude"].split(",")]
        dpkg.append(f"--dpkgopt=path-include={BASE_RECIPE['keep']}")
        # The runtime tree is tarred by a hook before the build-only packages go in: one
        # bootstrap makes both bases.
        tar_runtime = (
            f'tar --numeric-owner -C "$1" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/*'
            f" --exclude=./var/lib/apt/lists/* --exclude=./var/cache/apt/* -cf {runtime_tar} ."
        )
        add_build = 'chroot "$1" apt-get install -y -qq --no-install-recommends ' + BASE_RECIPE[
            "build"
        ].replace(",", " ")
        res = subprocess.run(
            [
                "mmdebstrap",
                f"--variant={BASE_RECIPE['variant']}",
                "--mode=root",
                "--quiet",
                f"--hook-dir={BASE_RECIPE['hook_dir']}",
                f"--include={BASE_RECIPE['runtime']}",
                *dpkg,
                f"--customize-hook={tar_runtime}",
                f"--customize-hook={add_build}",
                BASE_RECIPE["suite"],
                str(build_tar),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise HarnessError(f"mmdebstrap failed ({res.returncode}):\n{res.stderr[-3000:]}")
        changes = [
            "--change",
            "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            'CMD=["python3"]',
        ]
        podman.podman("import", *changes, str(runtime_tar), runtime_ref)
        podman.podman("import", *changes, str(build_tar), build_ref)
    _say(f"bases ready in {time.monotonic() - started:.0f} s: {runtime_ref}, {build_ref}")
    listed = podman.podman("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    stale = [
        ref
        for ref in listed
        if ref.split(":")[0] in (runtime_ref.split(":")[0], build_ref.split(":")[0])
        and ref not in (runtime_ref, build_ref)
    ]
    if stale:  # bases of an older recipe
        podman.podman("rmi", *stale, check=False)
    return runtime_ref, build_ref


# -- images -----------------------------------------------------------------------------------
def _input_files() -> list[Path]:
    listed = _git("ls-files", "-co", "--exclude-standard", "--", *INPUTS).splitlines()
    if listed:
        return sorted(REPO_ROOT / p for p in listed if (REPO_ROOT / p).is_file())
    found: list[Path] = []
    for name in INPUTS:
        path = REPO_ROOT / name
        found += [path] if path.is_file() else sorted(path.rglob("*"))
    return [p for p in found if p.is_file() and "__pycache__" not in p.parts]


def inputs_key(image: Image, bases: tuple[str, str]) -> str:
    h = hashlib.sha256()
    base_ids = podman.podman("image", "inspect", "--format", "{{.Id}}", *bases)
    h.update(base_ids.encode())
    h.update(revision().encode())  # the revision label must be right, so it is an input
    h.update((REPO_ROOT / image.dockerfile).read_bytes())
    for path in _input_files():
        h.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def revision() -> str:
    """The last commit that changed what goes into the images (`-dirty` with local edits), so
    that a commit touching only tests or docs leaves the images, and their labels, as they are."""
    rev = _git("log", "-1", "--format=%H", "--", *INPUTS) or "unknown"
    return rev + "-dirty" if _git("status", "--porcelain", "--", *INPUTS) else rev


def _pip_mounts(workdir: Path) -> list[str]:
    """The host's CA bundle and pip index settings, for the build's RUN steps only."""
    cafile = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    lines = ["[global]"]
    mounts: list[str] = []
    if Path(cafile).is_file():
        lines.append("cert = /etc/ssl/certs/supportbot-host-ca.crt")
        mounts += ["-v", f"{cafile}:/etc/ssl/certs/supportbot-host-ca.crt:ro"]
    for env, key in (("PIP_INDEX_URL", "index-url"), ("PIP_EXTRA_INDEX_URL", "extra-index-url")):
        if os.environ.get(env):
            lines.append(f"{key} = {os.environ[env]}")
    conf = workdir / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    return [*mounts, "-v", f"{conf}:/etc/pip.conf:ro"]


def image_size(ref: str) -> int:
    return int(podman.podman("image", "inspect", "--format", "{{.Size}}", ref).strip())


def build(image: Image, bases: tuple[str, str], *, force: bool = False) -> bool:
    """Build `image` unless an image with the same inputs exists. Returns True if built."""
    key = inputs_key(image, bases)
    if not force and podman.image_label(image.local_ref, INPUTS_LABEL) == key:
        _say(
            f"{image.name}: {image.local_ref} is up to date "
            f"({image_size(image.local_ref) / 1e6:.0f} MB; inputs unchanged, not rebuilt)"
        )
        return False
    started = time.monotonic()
    _say(f"{image.name}: building {image.local_ref} from {image.dockerfile}")
    source = _git("remote", "get-url", "origin") or "unknown"
    runtime_ref, build_ref = bases
    with tempfile.TemporaryDirectory(prefix="supportbot-build-") as tmp:
        argv = podman.command(
            "build",
            "--network=host",
            "--pull=never",
            f"--ulimit=nofile={podman.NOFILE}:{podman.NOFILE}",
            f"--ulimit=nproc={podman.NPROC}:{podman.NPROC}",
            *_pip_mounts(Path(tmp)),
            "--build-arg",
            f"BASE_IMAGE={runtime_ref}",
            "--build-arg",
            f"BUILD_IMAGE={build_ref}",
            "--build-arg",
            f"VERSION={VERSION}",
            "--build-arg",
            f"REVISION={revision()}",
            "--build-arg",
            f"SOURCE={source}",
            "--label",
            f"{INPUTS_LABEL}={key}",
            "--label",
            f"org.opencontainers.image.base.name={runtime_ref}",
            "-f",
            image.dockerfile,
            "-t",
            image.local_ref,
            ".",
        )
        log = Path(tmp) / "build.log"
        with log.open("w") as out:
            res = subprocess.run(
                argv,
                cwd=REPO_ROOT,
                env=podman.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if res.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise HarnessError(f"building {image.name} failed ({res.returncode}):\n{tail}")
    _say(
        f"{image.name}: built {image.local_ref} in {time.monotonic() - started:.0f} s, "
        f"{image_size(image.local_ref) / 1e6:.0f} MB (budget {SIZE_BUDGET_MB} MB)"
    )
    return True


# -- SBOM -------------------------------------------------------------------------------------
def syft_path() -> Path | None:
    found = shutil.which("syft")
    cached = podman.cache_root() / "bin" / "syft"
    return Path(found) if found else cached if cached.exists() else None


def build_syft() -> Path:
    target = podman.cache_root() / "bin"
    _say(f"building {SYFT} into {target} (took 37 min on a busy 2-core machine)")
    env = {**os.environ, "GOBIN": str(target), "CGO_ENABLED": "0"}
    subprocess.run(["nice", "-n", "10", "go", "install", SYFT], env=env, check=True)
    return target / "syft"


def write_sbom(image: Image) -> Path | None:
    """SPDX JSON of the image (OS and Python packages), redone when the image changed."""
    syft = syft_path()
    if syft is None:
        _say(f"{image.name}: no SBOM (syft is not installed; `make sbom-tool` builds it)")
        return None
    image_id = podman.podman("image", "inspect", "--format", "{{.Id}}", image.local_ref).strip()
    out = podman.config_dir() / "sbom" / f"{image.repository}-{VERSION}.spdx.json"
    stamp = out.with_suffix(".image-id")
    if out.exists() and stamp.exists() and stamp.read_text() == image_id:
        return out
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="supportbot-sbom-") as tmp:
        archive = Path(tmp) / "image.tar"
        podman.podman(
            "save", "--quiet", "--format=oci-archive", "-o", str(archive), image.local_ref
        )
        subprocess.run(
            [str(syft), "scan", f"oci-archive:{archive}", "-q", "-o", f"spdx-json={out}"],
            env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
            check=True,
            timeout=600,
        )
    stamp.write_text(image_id)
    _say(f"{image.name}: SBOM {out} in {time.monotonic() - started:.0f} s")
    return out


def ensure_images(*, force: bool = False) -> dict[str, str]:
    """Tools, bases, then both images (cached). Returns image name -> local reference."""
    podman.ensure_tools()
    started, epoch = time.monotonic(), int(time.time())
    bases = ensure_bases()
    built = False
    for image in IMAGES:
        built = build(image, bases, force=force) or built
        write_sbom(image)
    if built:
        # untagged images older than this run: earlier builds (this run's build stage stays
        # as the cache of the next one)
        podman.podman("image", "prune", "--force", f"--filter=until={epoch}", check=False)
    _say(f"images ready in {time.monotonic() - started:.0f} s")
    return {image.name: image.local_ref for image in IMAGES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make images", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if unchanged")
    parser.add_argument(
        "--sbom-tool", action="store_true", help=f"first build syft ({SYFT}) for the SBOMs"
    )
    args = parser.parse_args(argv)
    try:
        if args.sbom_tool:
            build_syft()
        refs = ensure_images(force=args.force)
    except HarnessError as exc:
        _say(str(exc))
        return 1
    for name, ref in refs.items():
        print(f"{name}={ref}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
