"""A small async client for the few Kubernetes API calls the reconciler makes: GET, server-side
apply, status merge-patch, DELETE and Event creation.

It reuses kopf's credentials (`kopf.ConnectionInfo` from the login handler) and aiohttp, so the
operator does not load the official `kubernetes` client at all (memory, see
shared/reference/kubernetes-operator.md §1.7). Every failure becomes a `KubeApiError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import kopf

from supportbot_operator import names
from supportbot_operator.errors import KubeApiError

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

_PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Event": "events",
    "Deployment": "deployments",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "ScaledObject": "scaledobjects",
    "TriggerAuthentication": "triggerauthentications",
    names.KIND: names.PLURAL,
}


def object_path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    """REST path of a namespaced object (or its collection when `name` is empty)."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{_PLURALS[kind]}"
    return f"{path}/{name}" if name else path


def manifest_path(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])


class KubeApi:
    """One aiohttp session against the API server, re-created when kopf re-authenticates."""

    def __init__(self, *, timeout: float, field_manager: str = names.FIELD_MANAGER) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._field_manager = field_manager
        self._info: kopf.ConnectionInfo | None = None
        self._session: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.instance = socket.gethostname()

    async def connect(self, info: kopf.ConnectionInfo) -> None:
        old, self._session = self._session, None
        self._info = info
        self._headers = info.as_http_headers()
        self._ready.set()
        if old is not None:
            await old.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._info is None:
            raise KubeApiError(0, "not logged in yet")
        if self._session is None:
            ssl = None if not self._info.server.startswith("https") else self._info.as_ssl_context()
            self._session = aiohttp.ClientSession(
                base_url=self._info.server.rstrip("/") + "/",
                connector=aiohttp.TCPConnector(ssl=ssl if ssl is not None else False, limit=64),
                timeout=self._timeout,
                headers={"Accept": "application/json", "User-Agent": names.FIELD_MANAGER},
            )
        return self._session

    def _refresh_token(self) -> bool:
        """In a pod the projected token rotates; re-read it after a 401."""
        if not SERVICE_ACCOUNT_TOKEN.exists():
            return False
        token = SERVICE_ACCOUNT_TOKEN.read_text().strip()
        fresh = {"Authorization": f"Bearer {token}"}
        changed = fresh != self._headers
        self._headers = fresh
        return changed

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        await asyncio.wait_for(self._ready.wait(), self._timeout.total)
        for attempt in (1, 2):
            headers = {**self._headers, "Content-Type": content_type}
            data = json.dumps(body).encode() if body is not None else None
            try:
                async with self._client().request(
                    method, path.lstrip("/"), data=data, params=params, headers=headers
                ) as resp:
                    text = await resp.text()
                    if resp.status == 401 and attempt == 1 and self._refresh_token():
                        continue
                    if resp.status >= 400:
                        raise _error(resp.status, text)
                    result: dict[str, Any] = json.loads(text) if text else {}
                    return result
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise KubeApiError(0, f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        raise KubeApiError(401, "unauthorized after refreshing the token")  # pragma: no cover

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    async def apply(self, manifest: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply with the operator's field manager, taking over conflicting fields
        (drift correction: edits by others to fields we set are reverted). `dry_run`: the API
        server validates and admits it completely but stores nothing."""
        params = {"fieldManager": self._field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return await self.request(
            "PATCH",
            manifest_path(manifest),
            body=manifest,
            content_type="application/apply-patch+yaml",
            params=params,
        )

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        try:
            await self.request("DELETE", object_path(api_version, kind, namespace, name))
        except KubeApiError as exc:
            if not exc.not_found:
                raise

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        path = object_path(names.API_VERSION, names.KIND, namespace, name) + "/status"
        await self.request(
            "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
        )

    async def post_event(self, owner: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """A core/v1 Event about `owner` (`kind` is Normal or Warning)."""
        meta = owner["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": names.API_VERSION,
                "kind": names.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": names.FIELD_MANAGER},
            "reportingComponent": f"{names.GROUP}/operator",
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.request("POST", object_path("v1", "Event", meta["namespace"]), body=event)


def _error(status: int, text: str) -> KubeApiError:
    try:
        doc = json.loads(text)
        return KubeApiError(
            status, str(doc.get("message", text))[:2000], reason=str(doc.get("reason", ""))
        )
    except (ValueError, AttributeError):
        return KubeApiError(status, text[:2000])
