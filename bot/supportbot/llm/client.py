"""OpenRouter chat-completions client with ordered model fallback, per-model circuit breakers,
Retry-After handling, response validation and system-prompt folding.

Fallback is done client-side by default: one request per model, primary first. Compared with
OpenRouter's server-side `models` array this costs one extra round trip per fallback (small next
to LLM latency) but gives us what the issue asks for per model: a circuit breaker fed by that
model's own outcomes, a per-attempt timeout (a hanging primary cannot eat the fallback's time),
per-model system-prompt folding (the `models` array shares one request body), per-model
Retry-After cool-downs, and exact error attribution in metrics. `fallback_mode="server"` sends
one request with the `models` array instead (only models whose breakers allow are listed).

`complete()` returns an `LLMResult` or raises `LLMUnavailable`; it never returns empty text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from supportbot.httppool import sharded_client
from supportbot.llm import metrics, prompt
from supportbot.llm.breaker import CircuitBreaker
from supportbot.llm.chat import ChatMessage, LLMResult
from supportbot.llm.config import LLMConfig
from supportbot.llm.errors import (
    Attempt,
    LLMUnavailable,
    ModelConnectionError,
    ModelFailure,
    ModelHTTPError,
    ModelTimeout,
)
from supportbot.llm.response import Completion, parse_completion
from supportbot.observability import REQUEST_ID_HEADER, current_request_id, scrub

log = logging.getLogger("supportbot.llm")

_Found = tuple[str, Completion, bool]
"""(requested model, completion, system prompt folded?)"""


class OpenRouterClient:
    def __init__(
        self,
        config: LLMConfig,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._own_http = http is None
        self._http = http or sharded_client(
            config.max_connections,
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
        )
        self.breakers = {
            m: CircuitBreaker(
                m,
                failure_threshold=config.breaker_failure_threshold,
                cooldown_seconds=config.breaker_cooldown_seconds,
                clock=clock,
                on_change=metrics.set_breaker_state,
            )
            for m in config.models
        }
        self.cooldown_until: dict[str, float] = {}
        """Model -> monotonic time before which it is not called (from Retry-After)."""
        self.learned_no_system: set[str] = set()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> OpenRouterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- public API ---------------------------------------------------------------------
    async def answer(
        self,
        system_prompt: str | None,
        user_text: str,
        history: Sequence[ChatMessage] = (),
        *,
        user: str | None = None,
        deadline_seconds: float | None = None,
    ) -> LLMResult:
        """Build the messages (masking PII if configured) and `complete` them."""
        messages = prompt.build_messages(
            system_prompt, user_text, history, mask=self.config.mask_pii
        )
        return await self.complete(messages, user=user, deadline_seconds=deadline_seconds)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        user: str | None = None,
        deadline_seconds: float | None = None,
    ) -> LLMResult:
        """Try the models in order; raise LLMUnavailable when none answers.

        `user` is a stable pseudonymous end-user id (hash the phone number); `deadline_seconds`
        bounds the whole call, fallbacks and Retry-After waits included.
        """
        start = self._clock()
        deadline = start + deadline_seconds if deadline_seconds else None
        attempts: list[Attempt] = []
        if self.config.fallback_mode == "server":
            found = await self._server_mode(messages, user, deadline, attempts)
        else:
            found = await self._client_mode(messages, user, deadline, attempts)
        if found is None:
            found = await self._retry_after_wait(messages, user, deadline, attempts)
        if found is None:
            metrics.UNAVAILABLE.inc()
            log.error(
                "no LLM model answered; the flow's fallback message applies",
                extra={"attempts": [f"{a.model}: {a.outcome}" for a in attempts]},
            )
            raise LLMUnavailable(attempts)
        requested, completion, folded = found
        if completion.model != self.config.models[0]:
            log.info(
                "LLM answered by a fallback model",
                extra={"model": completion.model, "primary": self.config.models[0]},
            )
        return LLMResult(
            content=completion.content.strip(),
            model=completion.model,
            requested_model=requested,
            usage=completion.usage,
            latency_seconds=self._clock() - start,
            generation_id=completion.generation_id,
            finish_reason=completion.finish_reason,
            attempts=attempts,
            system_folded=folded,
        )

    # --- strategies ---------------------------------------------------------------------
    def _skip_reason(self, model: str) -> str | None:
        if self.cooldown_until.get(model, 0.0) > self._clock():
            return "cooling_down"
        if not self.breakers[model].allow():
            return "breaker_open"
        return None

    async def _client_mode(
        self,
        messages: Sequence[ChatMessage],
        user: str | None,
        deadline: float | None,
        attempts: list[Attempt],
    ) -> _Found | None:
        for model in self.config.models:
            skip = self._skip_reason(model)
            if skip:
                attempts.append(Attempt(model, skip))
                metrics.FALLBACKS.labels(model).inc()
                continue
            result = await self._guarded(model, [model], messages, user, deadline, attempts)
            if result is not None:
                return result
            if attempts and attempts[-1].outcome in ("unauthorized", "payment_required"):
                return None  # the key, not the model, is the problem: do not try the others
            metrics.FALLBACKS.labels(model).inc()
        return None

    async def _server_mode(
        self,
        messages: Sequence[ChatMessage],
        user: str | None,
        deadline: float | None,
        attempts: list[Attempt],
    ) -> _Found | None:
        allowed = []
        for model in self.config.models:
            skip = self._skip_reason(model)
            if skip:
                attempts.append(Attempt(model, skip))
            else:
                allowed.append(model)
        if not allowed:
            return None
        for extra in allowed[1:]:  # only the first model's breaker sees this call's outcome
            self.breakers[extra].release()
        return await self._guarded(allowed[0], allowed, messages, user, deadline, attempts)

    async def _retry_after_wait(
        self,
        messages: Sequence[ChatMessage],
        user: str | None,
        deadline: float | None,
        attempts: list[Attempt],
    ) -> _Found | None:
        """Everything failed but a model asked us to come back soon: wait once and retry it."""
        if any(a.outcome in ("unauthorized", "payment_required") for a in attempts):
            return None
        now = self._clock()
        waits = sorted(
            (until - now, model)
            for model, until in self.cooldown_until.items()
            if model in self.breakers and until > now
        )
        if not waits:
            return None
        wait, model = waits[0]
        if wait > self.config.max_retry_after_seconds:
            return None
        if deadline is not None and now + wait + 1.0 > deadline:
            return None
        await self._sleep(wait)
        if not self.breakers[model].allow():
            return None
        return await self._guarded(model, [model], messages, user, deadline, attempts)

    # --- one request --------------------------------------------------------------------
    async def _guarded(
        self,
        model: str,
        models: list[str],
        messages: Sequence[ChatMessage],
        user: str | None,
        deadline: float | None,
        attempts: list[Attempt],
    ) -> _Found | None:
        """One request; feeds the breaker, cool-down, metrics and `attempts`."""
        breaker = self.breakers[model]
        timeout = self.config.timeout_seconds
        if deadline is not None:
            timeout = min(timeout, deadline - self._clock())
            if timeout <= 0:
                breaker.release()
                attempts.append(Attempt(model, "deadline"))
                return None
        started = self._clock()
        try:
            completion, folded = await self._request(model, models, messages, user, timeout)
        except ModelFailure as failure:
            elapsed = self._clock() - started
            if failure.counts_for_breaker:
                breaker.record_failure()
            else:
                breaker.release()
            if isinstance(failure, ModelHTTPError) and failure.retry_after is not None:
                self.cooldown_until[model] = self._clock() + failure.retry_after
            metrics.REQUESTS.labels(model, failure.reason).inc()
            metrics.ERRORS.labels(model, failure.reason).inc()
            metrics.REQUEST_DURATION.labels(model, failure.reason).observe(elapsed)
            detail = scrub(failure.message[:300])
            attempts.append(Attempt(model, failure.reason, elapsed, detail))
            log.warning(
                "LLM attempt failed",
                extra={
                    "model": model,
                    "reason": failure.reason,
                    "detail": detail,
                    "latency_seconds": round(elapsed, 3),
                },
            )
            return None
        elapsed = self._clock() - started
        self.cooldown_until.pop(model, None)
        served = completion.model
        if served in self.breakers:
            self.breakers[served].record_success()
        if served != model:
            breaker.release()
        metrics.REQUESTS.labels(served, "ok").inc()
        metrics.REQUEST_DURATION.labels(served, "ok").observe(elapsed)
        metrics.TOKENS.labels(served, "prompt").inc(completion.usage.prompt_tokens)
        metrics.TOKENS.labels(served, "completion").inc(completion.usage.completion_tokens)
        metrics.COST.labels(served).inc(completion.usage.cost)
        attempts.append(Attempt(served, "ok", elapsed))
        return model, completion, folded

    async def _request(
        self,
        model: str,
        models: list[str],
        messages: Sequence[ChatMessage],
        user: str | None,
        budget: float,
    ) -> tuple[Completion, bool]:
        patterns = self.config.no_system_models
        fold = any(prompt.needs_folding(m, patterns) or m in self.learned_no_system for m in models)
        try:
            return await self._post(model, models, messages, user, budget, fold), fold
        except ModelHTTPError as err:
            if fold or not prompt.rejects_system_role(err.status, err.message):
                raise
        self.learned_no_system.add(model)
        return await self._post(model, models, messages, user, budget, True), True

    async def _post(
        self,
        model: str,
        models: list[str],
        messages: Sequence[ChatMessage],
        user: str | None,
        budget: float,
        fold: bool,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": model,
            "messages": prompt.fold_system(messages) if fold else list(messages),
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
            "stream": False,
        }
        if len(models) > 1:
            body["models"] = models
        if user:
            body["user"] = user
        headers = {"X-Title": self.config.app_title, **self.config.extra_headers}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request_id = current_request_id()
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        url = f"{self.config.base_url}/chat/completions"
        http_timeout = httpx.Timeout(
            budget, connect=min(self.config.connect_timeout_seconds, budget)
        )
        try:
            async with asyncio.timeout(budget):
                try:
                    response = await self._http.post(
                        url, json=body, headers=headers, timeout=http_timeout
                    )
                except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                    # The connection dropped before any answer (time-outs are not NetworkErrors),
                    # typically a kept-alive one the server had just closed: once more on a
                    # fresh connection, then it counts.
                    log.info("LLM connection dropped (%s); trying once more", type(exc).__name__)
                    response = await self._http.post(
                        url, json=body, headers=headers, timeout=http_timeout
                    )
        except (TimeoutError, httpx.TimeoutException):
            raise ModelTimeout(model, f"no answer within {budget:.1f}s") from None
        except httpx.HTTPError as exc:
            raise ModelConnectionError(model, f"{type(exc).__name__}: {exc}"[:200]) from None
        return parse_completion(
            model, response.status_code, response.headers, response.content, time.time()
        )
