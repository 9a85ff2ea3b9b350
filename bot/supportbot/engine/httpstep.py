"""The edge I/O of the flow's HTTP steps: one `HTTPCall` in, one `HTTPResult` out, never an
exception (the flow continues on a branch, so the customer always gets an answer).

Per call, within `timeout_seconds` per attempt (DNS, connect, redirects and body included):

1. `{{secret:NAME}}` in header values is read from the backend Secret mounted at
   `SUPPORTBOT_FLOW_HTTP_SECRETS_DIR` (one file per key, read on every call so a rotation needs no
   restart). Secrets never enter the plan, a log or an error message.
2. Policy (`flow.httppolicy`): https only, or http to an allow-listed host; the host is resolved
   and every address checked (link-local and metadata refused always, loopback/private unless
   allow-listed); the request then goes to the checked address itself (the original host in
   `Host` and as TLS server name, so the certificate is verified for it), so a second DNS answer
   cannot point it elsewhere.
3. Redirects are followed (at most 3) only to the same scheme, host and port, and only for GET
   and HEAD; any other redirect is an error.
4. The body is streamed and the call fails as `error` once it passes `max_response_bytes`.
5. 2xx is `success` (the body parsed as JSON when it is JSON, else no data), 404 `not_found`,
   no answer in time `timeout`, anything else `error`. A timeout, a connection error, 429 or
   5xx is retried up to `retries` times (the schema allows retries only for GET, HEAD, PUT,
   DELETE or with `idempotency_key`, whose header value is the same on every attempt and on a
   retried turn), with capped exponential backoff and full jitter (`supportbot.retrying`); a
   Retry-After of a 429/5xx is honoured up to the same cap (2 s).

Logged per call: step, outcome, status, host, attempts, latency; never the path, query, headers
or body (they carry customer data). Metrics: `supportbot_flow_http_calls_total` and
`supportbot_flow_http_call_duration_seconds` by step and outcome.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from supportbot.engine import metrics
from supportbot.flow import HTTPCall, HTTPResult
from supportbot.flow.httppolicy import allowed, blocked_address, url_problem
from supportbot.flow.schema import IDEMPOTENT_METHODS, SECRET_REF
from supportbot.retrying import exponential_ceiling, full_jitter, parse_retry_after

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 2.0
USER_AGENT = "supportbot-flow/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the event loop's getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Refused(Exception):
    """Policy says no (not retried)."""


class _Retryable(Exception):
    def __init__(
        self, detail: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str


class BackendCaller:
    """Performs the flow's HTTP calls for one worker process (one connection pool)."""

    def __init__(
        self,
        allow_hosts: Collection[str] = (),
        secrets_dir: Path | None = None,
        *,
        resolver: Resolver = system_resolver,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_hosts = tuple(allow_hosts)
        self.secrets_dir = secrets_dir
        self.resolver = resolver
        self.client = client or httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the address checks
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": USER_AGENT},
            verify=verify,
        )
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.sleep = sleep

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self, call: HTTPCall, *, idempotency_key: str = "", deadline_seconds: float | None = None
    ) -> HTTPResult:
        """Perform `call`; `idempotency_key` is sent as `Idempotency-Key` when the step asks.
        `deadline_seconds` bounds the whole call, retries included (its end is a `timeout`)."""
        started = time.monotonic()
        attempts = [0]
        try:
            headers = self._headers(call, idempotency_key)
            async with asyncio.timeout(deadline_seconds):
                result = await self._attempts(call, headers, attempts)
        except TimeoutError:
            result = HTTPResult("timeout", detail="the turn's time for backend calls ran out")
        except _Refused as exc:
            result = HTTPResult("error", detail=str(exc))
        except Exception as exc:  # a bug must not silence the customer: the error branch
            log.exception("flow http call failed unexpectedly", extra={"step": call.step})
            result = HTTPResult("error", detail=type(exc).__name__)
        elapsed = time.monotonic() - started
        metrics.FLOW_HTTP_CALLS.labels(call.step, result.outcome).inc()
        metrics.FLOW_HTTP_SECONDS.labels(call.step, result.outcome).observe(elapsed)
        log.info(
            "flow http call",
            extra={
                "step": call.step,
                "method": call.method,
                "host": urlsplit(call.url).hostname,
                "outcome": result.outcome,
                "status": result.status,
                "attempts": attempts[0],
                "detail": result.detail,
                "latency_ms": round(elapsed * 1000, 1),
            },
        )
        return result

    # --- one call -------------------------------------------------------------------------
    def _headers(self, call: HTTPCall, idempotency_key: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        for name, value in call.headers:
            headers[name] = SECRET_REF.sub(lambda m: self._secret(m.group(1)), value)
        if call.idempotency_key and idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _secret(self, name: str) -> str:
        if self.secrets_dir is None:
            raise _Refused(f"secret {name!r}: no backend Secret is mounted")
        if name in (".", "..") or "/" in name:
            raise _Refused(f"secret {name!r}: invalid key name")
        try:
            value = (self.secrets_dir / name).read_text(encoding="utf-8")
        except OSError:
            raise _Refused(f"secret {name!r} is not a key of the backend Secret") from None
        value = value.strip()
        if "\r" in value or "\n" in value:
            raise _Refused(f"secret {name!r} holds a line break")
        return value

    async def _attempts(
        self, call: HTTPCall, headers: dict[str, str], attempts: list[int]
    ) -> HTTPResult:
        """The call with its retries; `attempts[0]` counts the attempts made (for the log)."""
        retries = call.retries if (call.method in IDEMPOTENT_METHODS or call.idempotency_key) else 0
        while True:
            attempts[0] += 1
            attempt = attempts[0]
            try:
                async with asyncio.timeout(call.timeout_seconds):
                    answer = await self._exchange(call, headers)
                return self._result(answer)
            except TimeoutError:
                outcome: HTTPResult = HTTPResult("timeout", detail="no answer in time")
                asked = None
            except _Retryable as exc:
                outcome = HTTPResult("error", exc.status, detail=str(exc))
                asked = exc.retry_after
            if attempt > retries:
                return outcome
            ceiling = exponential_ceiling(attempt - 1, BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS)
            wait = full_jitter(ceiling, self.rng)
            if asked is not None:  # the backend's Retry-After, within the same cap
                wait = max(wait, min(asked, BACKOFF_CAP_SECONDS))
            await self.sleep(wait)

    def _result(self, answer: _Answer) -> HTTPResult:
        if answer.status == 404:
            return HTTPResult("not_found", 404)
        if not 200 <= answer.status < 300:
            return HTTPResult("error", answer.status, detail=f"status {answer.status}")
        data = None
        if answer.body.strip():
            try:
                data = json.loads(answer.body)
            except ValueError:
                data = None  # not JSON: success without data (extracted slots stay empty)
        return HTTPResult("success", answer.status, data)

    async def _exchange(self, call: HTTPCall, headers: dict[str, str]) -> _Answer:
        url, method = call.url, call.method
        body = None if call.body is None else json.dumps(call.body).encode()
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            answer, location = await self._send(method, url, headers, body, call)
            if location is None:
                return answer
            target = urljoin(url, location)
            if _origin(target) != origin:
                raise _Refused(f"redirect to another host refused ({answer.status})")
            if method not in ("GET", "HEAD"):
                raise _Refused(f"redirect of a {method} refused ({answer.status})")
            url = target
        raise _Refused("too many redirects")

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, call: HTTPCall
    ) -> tuple[_Answer, str | None]:
        parts = urlsplit(url)
        host, scheme = parts.hostname or "", parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        problem = url_problem(scheme, host, port, self.allow_hosts)
        if problem:
            raise _Refused(problem)
        listed = allowed(host, port, self.allow_hosts)
        try:
            addresses = await self.resolver(host, port)
        except OSError:
            raise _Retryable(f"cannot resolve {host}") from None
        for address in addresses:
            why = blocked_address(address, allow_listed=listed)
            if why:
                raise _Refused(f"{host}: {why}")
        if not addresses:
            raise _Retryable(f"cannot resolve {host}")
        pinned = _with_address(parts, addresses[0])
        request = self.client.build_request(
            method,
            pinned,
            headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1]},
            content=body,
            extensions={"sni_hostname": host},
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__} from {host}") from None
        try:
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                return _Answer(response.status_code, b"", ""), response.headers["location"]
            if response.status_code == 429 or response.status_code >= 500:
                wait = parse_retry_after(response.headers.get("retry-after"), time.time())
                raise _Retryable(f"status {response.status_code}", response.status_code, wait)
            if response.headers.get("content-encoding", "identity") != "identity":
                raise _Refused("compressed responses are not accepted")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > call.max_response_bytes:
                    raise _Refused(f"response larger than {call.max_response_bytes} bytes")
                chunks.append(chunk)
            kind = response.headers.get("content-type", "")
            return _Answer(response.status_code, b"".join(chunks), kind), None
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__} from {host}") from None
        finally:
            await response.aclose()


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _with_address(parts: SplitResult, address: str) -> str:
    """The URL of `parts` with the host replaced by the checked `address`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
