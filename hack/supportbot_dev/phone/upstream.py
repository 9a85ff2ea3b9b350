"""The page's upstreams over HTTP: the MSG91 simulator's admin API and a tenant's agent API.

Thin edges: each call is one request; failures raise `UpstreamError` with the status and the
``{"error": {"code", "message"}}`` the page answers with (the agent API's own error body is
passed through). The agent token is only ever sent upstream, never to the browser.
"""

from __future__ import annotations

from typing import Any

import httpx

from supportbot_dev.phone.config import TenantConfig

_SIM = "the MSG91 simulator"


class UpstreamError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def _error_of(response: httpx.Response, what: str) -> UpstreamError:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return UpstreamError(response.status_code, error["code"], str(error.get("message", "")))
    detail = doc.get("detail") if isinstance(doc, dict) else None
    message = detail if isinstance(detail, str) else f"{what} answered HTTP {response.status_code}"
    return UpstreamError(response.status_code, "upstream_error", message)


async def _call(http: httpx.AsyncClient, what: str, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        message = f"{what} is unreachable: {type(exc).__name__}"
        raise UpstreamError(502, "upstream_unavailable", message) from None
    if response.status_code >= 400:
        raise _error_of(response, what)
    return response.json()


class Simulator:
    """The MSG91 simulator's ``/_sim`` admin API (recordings and customer emission)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/_sim"

    async def _list(self, path: str, key: str, after: int) -> list[dict[str, Any]]:
        doc = await _call(self._http, _SIM, "GET", self._base + path, params={"after": after})
        found: list[dict[str, Any]] = doc[key]
        return found

    async def records(self, after: int) -> list[dict[str, Any]]:
        """Send requests recorded after sequence number `after` (exact bodies, outcomes)."""
        return await self._list("/messages", "messages", after)

    async def webhooks(self, after: int) -> list[dict[str, Any]]:
        """Webhooks POSTed to the bots after sequence number `after` (payloads, answers)."""
        return await self._list("/webhooks", "webhooks", after)

    async def inbound(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Emit a customer message to the bot (``POST /_sim/inbound``, an `InboundSpec`)."""
        doc: dict[str, Any] = await _call(
            self._http, _SIM, "POST", self._base + "/inbound", json=spec
        )
        return doc


class AgentApi:
    """One tenant's agent API (``{webhook}/api/v1``) with the tenant's bearer token."""

    def __init__(self, http: httpx.AsyncClient, tenant: TenantConfig) -> None:
        if tenant.agent_api is None or tenant.token is None:
            raise UpstreamError(
                404, "no_agent_api", f"tenant {tenant.name} has no agent API URL and token"
            )
        self._http = http
        self._base = tenant.agent_api
        self._headers = {"Authorization": f"Bearer {tenant.token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return await _call(
            self._http,
            "the agent API",
            method,
            self._base + path,
            params=params,
            json=json,
            headers={**self._headers, **(headers or {})},
        )
