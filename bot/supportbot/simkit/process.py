"""Start a simulator's CLI (``supportbot <command>``) as a child process on a free loopback port
and wait until it serves ``/_sim/health``.

Each simulator wraps `start_cli` in its own ``start_simulator`` (``msg91-sim``, ``meta-sim``):
``with start_simulator([...]) as sim: sim.url``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx


class SimulatorStartError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class RunningSimulator:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the simulator's process group; SIGKILL when it outlives `timeout`."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_cli(
    command: str,
    args: list[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 30.0,
) -> RunningSimulator:
    """Run ``supportbot <command> --host H --port P <args>`` in its own session (stopped with its
    children); output goes to `log` (default ``<tmp>/<command>-*/sim.log``)."""
    port = port or free_port(host)
    log = log or Path(tempfile.mkdtemp(prefix=f"{command}-")) / "sim.log"
    argv = [sys.executable, "-m", "supportbot.cli", command, "--host", host]
    argv += ["--port", str(port), *(args or [])]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    sim = RunningSimulator(f"http://{host}:{port}", port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SimulatorStartError(f"simulator exited ({proc.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(sim.url + "/_sim/health", timeout=1.0).status_code == 200:
                return sim
        time.sleep(0.1)
    sim.stop()
    raise SimulatorStartError(f"simulator not ready after {timeout} s; see {log}")
