"""`supportbot-operator selftest`: the chart's `helm test` hook. Checks an installed release from
inside the cluster, with the hook Pod's own ServiceAccount (read the CRD, dry-run SupportBots):

- health: the operator answers `/readyz` (through the chart's metrics Service);
- crd: `supportbots.supportbot.dev` is Established;
- admitted: a valid sample SupportBot passes a server-side dry run (with the admission webhook
  enabled and `failurePolicy: Fail`, that also proves the webhook answers);
- rejected: a sample with an invalid `integratedNumber` is refused (422) by the CRD schema.

Nothing is created (`dryRun=All`). One line per check, exit 0 only when all pass. Settings from
`SUPPORTBOT_SELFTEST_HEALTH_URL` (empty skips the health check) and
`SUPPORTBOT_SELFTEST_NAMESPACE` (where the samples are dry-run).
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supportbot_operator import names

Check = tuple[str, Callable[[], str]]
"""(name, run): `run` returns a detail on success and raises `CheckFailed` otherwise."""


class CheckFailed(Exception):
    """One check did not hold; the message says what was seen."""


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str


def sample(namespace: str, number: str) -> dict[str, Any]:
    """A minimal valid SupportBot (required fields only) with a random test number."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": f"selftest-{secrets.token_hex(3)}", "namespace": namespace},
        "spec": {
            "whatsapp": {
                "integratedNumber": number,
                "authKeySecretRef": {"name": "selftest", "key": "auth-key"},
                "webhookSecretRef": {"name": "selftest", "key": "webhook-secret"},
            },
            "llm": {
                "apiKeySecretRef": {"name": "selftest", "key": "api-key"},
                "models": ["openai/gpt-4o-mini"],
            },
            "flow": {"configMapRef": {"name": "selftest"}},
            "storage": {
                "redisUrlSecretRef": {"name": "selftest", "key": "redis"},
                "postgresDsnSecretRef": {"name": "selftest", "key": "pg"},
            },
        },
    }


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def run_checks(checks: list[Check]) -> list[Outcome]:
    out = []
    for name, check in checks:
        try:
            out.append(Outcome(name, True, check()))
        except CheckFailed as exc:
            out.append(Outcome(name, False, str(exc)))
    return out


def report(outcomes: list[Outcome]) -> tuple[int, str]:
    lines = [f"{'ok  ' if o.ok else 'FAIL'} {o.name}: {o.detail}" for o in outcomes]
    return (0 if all(o.ok for o in outcomes) else 1), "\n".join(lines)


# --- the edge: HTTP and the API server (the `kubernetes` client: in-cluster or KUBECONFIG) -----
def _health(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - the chart's URL
            return f"{url} answered {resp.status}: {resp.read().decode()[:200]}"
    except urllib.error.HTTPError as exc:
        raise CheckFailed(f"{url} answered {exc.code}: {exc.read().decode()[:300]}") from exc
    except OSError as exc:
        raise CheckFailed(f"{url}: {exc}") from exc


def checks_for(health_url: str, namespace: str) -> list[Check]:
    from kubernetes import client, config

    config.load_config()  # type: ignore[no-untyped-call]
    api = client.ApiClient()
    crds = client.ApiextensionsV1Api(api)
    custom = client.CustomObjectsApi(api)

    def crd() -> str:
        try:
            found = crds.read_custom_resource_definition(names.CRD_NAME).to_dict()
        except client.ApiException as exc:
            raise CheckFailed(f"{names.CRD_NAME}: {exc.status} {exc.reason}") from exc
        if not established({"status": found.get("status") or {}}):
            raise CheckFailed(f"{names.CRD_NAME} is not Established")
        return f"{names.CRD_NAME} is Established"

    def dry_run(body: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(
            names.GROUP, names.VERSION, namespace, names.PLURAL, body, dry_run="All"
        )

    def admitted() -> str:
        body = sample(namespace, f"9199{secrets.randbelow(10**8):08d}")
        try:
            dry_run(body)
        except client.ApiException as exc:
            raise CheckFailed(f"a valid SupportBot was refused: {_message(exc)}") from exc
        return f"a valid SupportBot is admitted in {namespace} (dry run)"

    def rejected() -> str:
        try:
            dry_run(sample(namespace, "not-a-number"))
        except client.ApiException as exc:
            if exc.status == 422:
                return f"an invalid integratedNumber is refused: {_message(exc)[:160]}"
            raise CheckFailed(f"expected 422, got {exc.status}: {_message(exc)}") from exc
        raise CheckFailed("a SupportBot with integratedNumber 'not-a-number' was admitted")

    out: list[Check] = []
    if health_url:
        out.append(("health", lambda: _health(health_url)))
    return [*out, ("crd", crd), ("admitted", admitted), ("rejected", rejected)]


def _message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError, AttributeError):
        return f"{exc.status} {exc.reason}"


def main() -> int:
    namespace = os.environ.get("SUPPORTBOT_SELFTEST_NAMESPACE", "default")
    health_url = os.environ.get("SUPPORTBOT_SELFTEST_HEALTH_URL", "")
    code, text = report(run_checks(checks_for(health_url, namespace)))
    print(text)  # the hook Pod's log is what `helm test --logs` shows
    return code
