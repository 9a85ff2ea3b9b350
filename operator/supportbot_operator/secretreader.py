"""Reading only the Secrets the SupportBots reference (`secret_access: referenced`).

The default (`watch`) lists and watches every Secret of each served namespace, which RBAC can
only grant for all of a namespace's Secrets. In `referenced` mode the operator holds just `get`
on the Secret names the chart lists (`resourceNames`; Kubernetes cannot grant list/watch per
name in a way a watch could use), so it never sees any other Secret: it GETs a Secret when a
SupportBot first references it and re-reads every referenced Secret each `secret_poll_seconds`,
so a rotation rolls the pods within one poll interval instead of at once.

Like the watch index, it keeps per-key digests only, never values; its `index` has the
watch index's shape, so `ClusterView` reads either the same way. A Secret the operator may not
read is remembered as forbidden, and the tenant says so (`SecretForbidden`), naming the value
to change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from supportbot_operator import inputs
from supportbot_operator.errors import KubeApiError
from supportbot_operator.inputs import KeyDigests, Problem
from supportbot_operator.kube import KubeApi, object_path

log = logging.getLogger(__name__)

Key = tuple[str, str]
FORBIDDEN = "SecretForbidden"


class ReferencedSecrets:
    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self.index: dict[Key, list[KeyDigests]] = {}
        """(namespace, name) -> [digests]: the shape of a kopf index."""
        self.forbidden: set[Key] = set()

    async def read(self, namespace: str, name: str) -> bool:
        """GET one Secret into the index; True when what the index says about it changed."""
        key = (namespace, name)
        before = (self.index.get(key), key in self.forbidden)
        try:
            body = await self._api.get(object_path("v1", "Secret", namespace, name))
        except KubeApiError as exc:
            if exc.status != 403:
                raise
            self.index.pop(key, None)
            self.forbidden.add(key)
        else:
            self.forbidden.discard(key)
            if body is None:
                self.index.pop(key, None)
            else:
                self.index[key] = [inputs.key_digests(body.get("data"))]
        return (self.index.get(key), key in self.forbidden) != before

    async def ensure(self, namespace: str, names: Iterable[str]) -> None:
        """Read the Secrets not read yet (a new or edited SupportBot's references)."""
        for name in sorted(set(names)):
            key = (namespace, name)
            if key not in self.index and key not in self.forbidden:
                await self.read(namespace, name)

    def problems(self, namespace: str, names: Iterable[str]) -> list[Problem]:
        return [
            Problem(
                FORBIDDEN,
                f"the operator may not read Secret {name!r}: it reads only the Secrets the chart "
                "lists (secrets.access=referenced); add the name to secrets.names",
            )
            for name in sorted(set(names))
            if (namespace, name) in self.forbidden
        ]

    async def poll(
        self,
        references: Callable[[], Mapping[Key, Iterable[str]]],
        changed: Callable[[str, Iterable[str]], None],
        every: float,
    ) -> None:
        """Forever: re-read every referenced Secret; `changed(namespace, bots)` for each one
        whose digests (or readability) changed. Secrets no longer referenced are dropped."""
        while True:
            await asyncio.sleep(every)
            wanted = references()
            for key in [k for k in self.index if k not in wanted]:
                del self.index[key]
            self.forbidden &= set(wanted)
            for (namespace, name), bots in sorted(wanted.items()):
                try:
                    if await self.read(namespace, name):
                        changed(namespace, bots)
                except KubeApiError as exc:  # next round tries again
                    log.warning("could not read Secret %s/%s: %s", namespace, name, exc)
