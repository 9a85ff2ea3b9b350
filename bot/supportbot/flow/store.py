"""Hot-reloading holder of the tenant's flow file (mounted from a ConfigMap).

Kubernetes updates a mounted ConfigMap by writing a new timestamped directory and swapping the
``..data`` symlink, so the file we read (``flow.yaml -> ..data/flow.yaml``) changes inode without
being written in place. `FlowStore.current()` stats the path (following symlinks) at most every
`min_check_interval` seconds; when (device, inode, mtime, size, real path) changed it reads the
text and compares its sha256. A new valid flow replaces the old one; a broken one is logged with
its errors, counted in ``supportbot_flow_reload_errors_total`` and flagged in
``supportbot_flow_reload_failing`` while the last good flow stays in service.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from prometheus_client import Counter, Gauge

from supportbot.flow.schema import Flow
from supportbot.flow.validation import FlowError, LoadedFlow, parse_flow_text

log = logging.getLogger("supportbot.flow")

RELOAD_ERRORS = Counter(
    "supportbot_flow_reload_errors_total",
    "Flow file changes that were rejected (invalid or unreadable); the last good flow stays.",
)
RELOADS = Counter("supportbot_flow_reloads_total", "New flow versions taken into service.")
FLOW_INFO = Gauge(
    "supportbot_flow_info", "The flow in service (value 1), by name and sha256.", ["name", "hash"]
)
RELOAD_FAILING = Gauge(
    "supportbot_flow_reload_failing", "1 while the flow file on disk is invalid, else 0."
)

Fingerprint = tuple[int, int, int, int, str]


def _fingerprint(path: Path) -> Fingerprint:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, os.path.realpath(path))


class FlowStore:
    """The current flow of one tenant. Construction raises FlowError if the file is invalid
    (a bot must not start without a flow); later bad versions never replace a good one."""

    def __init__(
        self,
        path: Path | str,
        *,
        min_check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        http_allow_hosts: Collection[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.http_allow_hosts = http_allow_hosts
        self.min_check_interval = min_check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last_check = clock()
        self.last_error: list[str] | None = None
        self._failed_hash: str | None = None
        try:
            self._fingerprint = _fingerprint(self.path)
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlowError([f"cannot read {self.path}: {exc.strerror}"], str(self.path)) from None
        try:
            self._loaded = parse_flow_text(text, self.http_allow_hosts)
        except FlowError as exc:
            raise FlowError(exc.errors, str(self.path)) from None
        self._publish(None)

    @property
    def loaded(self) -> LoadedFlow:
        return self._loaded

    @property
    def sha256(self) -> str:
        return self._loaded.sha256

    def current(self) -> Flow:
        """The flow to use for this turn (re-checking the file if the interval has passed)."""
        if self._clock() - self._last_check >= self.min_check_interval:
            self.reload_if_changed()
        return self._loaded.flow

    def reload_if_changed(self) -> bool:
        """Re-read the file if it changed on disk; True when a new flow went into service."""
        with self._lock:
            self._last_check = self._clock()
            try:
                fingerprint = _fingerprint(self.path)
                if fingerprint == self._fingerprint:
                    return False
                text = self.path.read_text(encoding="utf-8")
            except OSError as exc:
                self._reject("unreadable", [f"cannot read {self.path}: {exc.strerror}"])
                return False
            self._fingerprint = fingerprint
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if digest == self._loaded.sha256:
                self._clear_failure()
                return False
            if digest == self._failed_hash:
                return False
            try:
                loaded = parse_flow_text(text, self.http_allow_hosts)
            except FlowError as exc:
                self._reject(digest, exc.errors)
                return False
            self._publish(loaded)
            return True

    def _reject(self, digest: str, errors: list[str]) -> None:
        if digest == self._failed_hash:
            return
        self._failed_hash = digest
        self.last_error = errors
        RELOAD_ERRORS.inc()
        RELOAD_FAILING.set(1)
        log.error(
            "flow file change rejected; keeping the flow in service",
            extra={"path": str(self.path), "errors": errors, "flow_hash": self._loaded.sha256},
        )

    def _clear_failure(self) -> None:
        self._failed_hash = None
        self.last_error = None
        RELOAD_FAILING.set(0)

    def _publish(self, new: LoadedFlow | None) -> None:
        if new is not None:
            old = self._loaded
            with contextlib.suppress(KeyError):
                FLOW_INFO.remove(old.flow.name, old.sha256)
            self._loaded = new
            RELOADS.inc()
            log.info(
                "flow reloaded",
                extra={"path": str(self.path), "flow": new.flow.name, "flow_hash": new.sha256},
            )
        self._clear_failure()
        FLOW_INFO.labels(self._loaded.flow.name, self._loaded.sha256).set(1)
