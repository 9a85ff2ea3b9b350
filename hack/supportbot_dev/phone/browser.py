"""A real headless Chromium for tests of the phone page: Debian's ``chromium`` driven by
``playwright-core`` from npm (installed into a cache outside the repository; it never downloads a
browser) through a small Node bridge (``bridge.cjs``, JSON lines over stdin/stdout).

    path = ensure_chromium()            # apt-get install chromium when missing and root
    module = ensure_playwright()        # npm install playwright-core into the cache
    async with open_browser(path, module) as browser:
        await browser.call("goto", url=page_url)
        await browser.call("click", selector=".reply-button", text="Opening hours")

Everything that cannot be provided raises `BrowserUnavailable` with the reason (tests skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from supportbot_dev import procs

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_PACKAGE = "playwright-core@1.65.1"
BRIDGE = Path(__file__).with_name("bridge.cjs")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Launch flags; the fresh ``--user-data-dir`` is given to playwright as its own parameter."""


class BrowserUnavailable(RuntimeError):
    """No usable headless browser here; the message says what is missing and how to get it."""


class BrowserError(RuntimeError):
    """A browser command failed (element not found, timeout, navigation error)."""


def node_cache() -> Path:
    default = Path.home() / ".cache" / "supportbot" / "node"
    return Path(os.environ.get("SUPPORTBOT_NODE_CACHE", default))


def ensure_chromium(*, install: bool = True) -> Path:
    """Debian's chromium; installed with apt-get when missing, `install` is set and we are root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if not install or not procs.is_root() or shutil.which("apt-get") is None:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "run `sudo apt-get install -y chromium`"
        )
    try:
        procs.apt_install("chromium")
    except subprocess.CalledProcessError as exc:
        raise BrowserUnavailable(f"apt-get install chromium failed: {exc}") from None
    if not CHROMIUM.exists():
        raise BrowserUnavailable(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def ensure_playwright(cache: Path | None = None) -> Path:
    """The playwright-core module directory in the npm cache (``npm install`` on first use)."""
    cache = cache or node_cache()
    module = cache / "node_modules" / "playwright-core"
    if (module / "package.json").exists():
        return module
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise BrowserUnavailable("node and npm are needed for playwright-core (apt-get nodejs npm)")
    cache.mkdir(parents=True, exist_ok=True)
    argv = [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", PLAYWRIGHT_PACKAGE]
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0 or not (module / "package.json").exists():
        tail = (result.stderr or result.stdout)[-600:]
        raise BrowserUnavailable(f"npm install {PLAYWRIGHT_PACKAGE} failed: {tail}")
    return module


class Browser:
    """One page of a headless Chromium, driven through the bridge (async, so servers in the
    same event loop keep answering while a command waits)."""

    def __init__(self, proc: asyncio.subprocess.Process, timeout: float) -> None:
        self._proc = proc
        self._ids = itertools.count(1)
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def call(self, op: str, **args: Any) -> Any:
        """Run one bridge command; raises BrowserError with the browser's message on failure."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        command = {"id": next(self._ids), "op": op, **args}
        async with self._lock:
            self._proc.stdin.write(json.dumps(command).encode() + b"\n")
            await self._proc.stdin.drain()
            try:
                line = await asyncio.wait_for(self._proc.stdout.readline(), self._timeout)
            except TimeoutError:
                raise BrowserError(f"{op}: no answer from the browser bridge") from None
        if not line:
            raise BrowserError(f"{op}: the browser bridge exited")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise BrowserError(f"{op} {args}: {answer.get('error')}")
        return answer.get("value")


@asynccontextmanager
async def open_browser(
    chromium: Path, playwright: Path, *, command_timeout: float = 60.0, log: Path | None = None
) -> AsyncIterator[Browser]:
    """Start the bridge with a fresh user-data dir, launch Chromium, yield a `Browser`."""
    node = shutil.which("node")
    if node is None:
        raise BrowserUnavailable("node is not installed")
    user_data = Path(tempfile.mkdtemp(prefix="phone-chromium-"))
    log = log or user_data.with_name(user_data.name + ".log")
    env = {
        **os.environ,
        "SUPPORTBOT_PLAYWRIGHT": str(playwright),
        "SUPPORTBOT_CHROMIUM": str(chromium),
        "SUPPORTBOT_USER_DATA_DIR": str(user_data),
        "SUPPORTBOT_CHROMIUM_ARGS": json.dumps(list(CHROMIUM_FLAGS)),
    }
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(BRIDGE),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
        )
    browser = Browser(proc, command_timeout)
    try:
        await browser.call("launch", timeout=int(command_timeout * 1000 / 4))
        yield browser
    finally:
        with contextlib.suppress(BrowserError, ConnectionError):
            await browser.call("close")
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        shutil.rmtree(user_data, ignore_errors=True)
