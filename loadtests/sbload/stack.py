"""Start and stop the processes under test, all on loopback: Redis, PostgreSQL (engine only), the
MSG91 and OpenRouter simulators, `supportbot webhook`, `supportbot worker`, the bare FastAPI
baseline and the naive rq design. Every child runs in its own process group and is stopped by
its own id (SIGTERM, then SIGKILL). The seed stack (`loadtests/seedstack/`, Node: Fastify webhook
+ Bull worker) starts through `start_seed_webhook` / `start_seed_worker`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from supportbot.msg91.simulator.process import RunningSimulator, start_simulator
from supportbot_dev import databases, procs
from supportbot_dev.postgres_server import PostgresServer, start_postgres
from supportbot_dev.redis_server import RedisServer, start_redis

TENANT = "loadtest"
NUMBER = "919100000001"
SECRET = "loadtest-webhook-secret-0123456789"  # noqa: S105 - a local test value
LLM_MODEL = "openai/gpt-4o-mini"
FLOW = Path(__file__).resolve().parent.parent / "scenarios" / "flow.yaml"
SEEDSTACK = Path(__file__).resolve().parent.parent / "seedstack"
"""The Node project of the seed design's stack (package.json + package-lock.json)."""
HANDLER_SPECS = {
    "echo": "supportbot.queueing.echo:echo_handler",
    "llm-echo": "sbload.llm_echo:llm_echo_handler",
    "engine": "supportbot.engine.runtime:engine_handler",
}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    metrics_url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        procs.stop(self.popen, timeout)


def _wait_http(url: str, proc: Proc, timeout: float = 30.0) -> None:
    def ok() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url, timeout=1.0).status_code < 500
        return False

    procs.wait_until(ok, timeout, proc.name, proc.popen, proc.log)


class SeedStackUnavailable(RuntimeError):
    """`node` or `npm` is missing, or `npm ci` failed: the seed stack cannot run here."""


def ensure_seedstack(project: Path = SEEDSTACK) -> str:
    """The `node` binary, after `npm ci` in `project` when its node_modules is missing or older
    than the lockfile."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SeedStackUnavailable("the seed stack needs Node 20+ (`node` and `npm` on PATH)")
    installed = project / "node_modules" / ".package-lock.json"
    lock = project / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel", "error"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SeedStackUnavailable(f"npm ci failed in {project}: {done.stderr[-2000:]}")
    return node


@dataclass
class Stack:
    """The running processes of one benchmark phase; `close` stops them all."""

    workdir: Path
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    database_url: str = "postgresql://unused@127.0.0.1:1/unused"
    msg91: RunningSimulator | None = None
    openrouter: Proc | None = None
    procs: list[Proc] = field(default_factory=list)
    durable_postgres: bool = False
    """Synchronous commits, so a commit survives a PostgreSQL crash (the fault suite)."""

    # --- services -------------------------------------------------------------------------
    def start_redis(self, url: str | None = None) -> str:
        """A private redis-server, or an existing one at `url` (the test suite's)."""
        if url is None:
            self.redis = start_redis()
        else:
            self.redis = RedisServer(url=url, port=0, workdir=self.workdir / "no-redis-dir")
        return self.redis.url

    def start_postgres(self) -> str:
        self.postgres = start_postgres(durable_commits=self.durable_postgres)
        self.database_url = databases.create_database(self.postgres.url(), prefix="load")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "supportbot.cli",
                "migrate",
                "--database-url",
                self.database_url,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self.database_url

    def start_msg91(self, bot_url: str, *, order: str, duplicates: int, dlr: bool) -> str:
        args = ["--number", NUMBER, "--bot-url", bot_url, "--webhook-secret", SECRET]
        args += ["--dlr-order", order, "--dlr-duplicates", str(duplicates)]
        args += ["--dlr-final", "read" if dlr else "none", "--log-level", "WARNING"]
        args += ["--max-records", "1000000", "--webhook-retries", "3", "--seed", "1"]
        self.msg91 = start_simulator(args, log=self.workdir / "msg91-sim.log")
        return self.msg91.url

    def start_openrouter(self, latency: str) -> str:
        port = procs.free_port()
        argv = [sys.executable, "-m", "supportbot.cli", "openrouter-sim", "--port", str(port)]
        argv += ["--latency", latency, "--log-level", "warning"]
        proc = self._spawn("openrouter-sim", argv, os.environ.copy())
        proc.url = f"http://127.0.0.1:{port}"
        _wait_http(proc.url + "/api/v1/models", proc)
        self.openrouter = proc
        return proc.url

    # --- the bot ----------------------------------------------------------------------------
    def bot_env(self, **overrides: object) -> dict[str, str]:
        assert self.redis is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
        settings: dict[str, object] = {
            "TENANT_ID": TENANT,
            "INTEGRATED_NUMBER": NUMBER,
            "WEBHOOK_SECRET": SECRET,
            "REDIS_URL": self.redis.url,
            "DATABASE_URL": self.database_url,
            "MSG91_BASE_URL": self.msg91.url if self.msg91 else "http://127.0.0.1:1",
            "OPENROUTER_BASE_URL": (self.openrouter.url if self.openrouter else "") + "/api/v1",
            "OPENROUTER_API_KEY": "loadtest",
            "LLM_MODELS": LLM_MODEL,
            "FLOW_PATH": str(FLOW),
            "LOG_LEVEL": "WARNING",
            "SEND_RATE_LIMIT_PER_MINUTE": 10_000_000,
        }
        settings.update({k.upper(): v for k, v in overrides.items()})
        env.update({f"SUPPORTBOT_{k}": str(v) for k, v in settings.items()})
        return env

    def start_webhook(self, **overrides: object) -> Proc:
        port = procs.free_port()
        env = self.bot_env(port=port, **overrides)
        argv = [sys.executable, "-m", "supportbot.cli", "webhook", "--host", "127.0.0.1"]
        proc = self._spawn("webhook", argv, env)
        proc.url = f"http://127.0.0.1:{port}"
        _wait_http(proc.url + "/healthz", proc)
        return proc

    def start_worker(self, handler: str, name: str = "worker", **overrides: object) -> Proc:
        port = procs.free_port()
        env = self.bot_env(metrics_port=port, **overrides)
        argv = [sys.executable, "-m", "supportbot.cli", "worker", "--handler"]
        argv += [HANDLER_SPECS.get(handler, handler), "--metrics-addr", "127.0.0.1"]
        proc = self._spawn(name, argv, env)
        proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
        _wait_http(proc.metrics_url, proc, timeout=60)
        return proc

    def start_bare(self, limit_concurrency: int) -> Proc:
        port = procs.free_port()
        argv = [sys.executable, "-m", "sbload.bare", "--port", str(port)]
        argv += ["--limit-concurrency", str(limit_concurrency)]
        proc = self._spawn("bare-fastapi", argv, os.environ.copy())
        proc.url = f"http://127.0.0.1:{port}"
        _wait_http(proc.url + "/healthz", proc)
        return proc

    def start_naive_web(self) -> Proc:
        """The naive webhook: a FastAPI endpoint doing `rq.Queue.enqueue` per message (sync,
        in the threadpool); see `sbload.naive`."""
        port = procs.free_port()
        env = self.bot_env()
        env["NAIVE_PORT"] = str(port)
        web = self._spawn("naive-webhook", [sys.executable, "-m", "sbload.naive"], env)
        web.url = f"http://127.0.0.1:{port}"
        _wait_http(web.url + "/healthz", web)
        return web

    def start_naive_workers(self, count: int, first: int = 0) -> list[Proc]:
        """Classic forking `rq worker` processes on the naive queue."""
        assert self.redis is not None
        env = self.bot_env()
        rq_bin = str(Path(sys.executable).with_name("rq"))
        started = []
        for n in range(first, first + count):
            argv = [rq_bin, "worker", "-u", self.redis.url, "-q", "--logging_level", "WARNING"]
            argv += ["-n", f"naive-{n}-{os.getpid()}", "naive"]
            started.append(self._spawn(f"rq-worker-{n}", argv, env))
        return started

    # --- the seed stack (Node) -----------------------------------------------------------------
    def seed_env(self, **overrides: object) -> dict[str, str]:
        """Environment of the seed stack's processes (see loadtests/seedstack/src/config.js)."""
        assert self.redis is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
        settings: dict[str, object] = {
            "REDIS_URL": self.redis.url,
            "TENANT_ID": TENANT,
            "INTEGRATED_NUMBER": NUMBER,
            "WEBHOOK_SECRET": SECRET,
            "MSG91_BASE_URL": self.msg91.url if self.msg91 else "http://127.0.0.1:1",
            "OPENROUTER_BASE_URL": (self.openrouter.url if self.openrouter else "") + "/api/v1",
            "OPENROUTER_API_KEY": "loadtest",
            "LLM_MODEL": LLM_MODEL,
            "NODE_ENV": "production",
        }
        settings.update({k.upper(): v for k, v in overrides.items()})
        env.update({k: str(v) for k, v in settings.items()})
        return env

    def start_seed_webhook(
        self, throttle_per_minute: int, name: str = "seed-webhook", *, nest: bool = False
    ) -> Proc:
        """The seed stack's webhook: plain Fastify (`loadtests/seedstack/src/webhook.js`) or
        NestJS on the Fastify adapter (`src/nest-webhook.mjs`); the same logic (`src/ingest.js`)."""
        node = ensure_seedstack()
        port = procs.free_port()
        env = self.seed_env(port=port, throttle_per_minute=throttle_per_minute)
        script = SEEDSTACK / "src" / ("nest-webhook.mjs" if nest else "webhook.js")
        proc = self._spawn(name, [node, str(script)], env)
        proc.url = f"http://127.0.0.1:{port}"
        _wait_http(proc.url + "/healthz", proc)
        return proc

    def start_seed_worker(self, concurrency: int, name: str = "seed-worker") -> Proc:
        """The seed stack's Bull worker (`loadtests/seedstack/src/worker.js`), `concurrency` jobs
        at a time; its /metrics serves the gauges the sampler reads."""
        node = ensure_seedstack()
        port = procs.free_port()
        env = self.seed_env(metrics_port=port, concurrency=concurrency)
        proc = self._spawn(name, [node, str(SEEDSTACK / "src" / "worker.js")], env)
        proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
        _wait_http(proc.metrics_url, proc)
        return proc

    # --- plumbing ---------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log = self.workdir / f"{name}.log"
        proc = Proc(name, procs.start(argv, log, env=env), log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()
        self.procs.clear()
        if self.msg91 is not None:
            self.msg91.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


@contextlib.contextmanager
def stack(workdir: Path) -> Iterator[Stack]:
    workdir.mkdir(parents=True, exist_ok=True)
    running = Stack(workdir)
    try:
        yield running
    finally:
        running.close()
