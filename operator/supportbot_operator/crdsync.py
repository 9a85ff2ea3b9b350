"""Keep the Helm chart's CRD a generated copy of `crds/` (the one source of truth).

The chart ships the CRD as a template (so `helm upgrade` updates it) behind `crds.install`, with
`helm.sh/resource-policy: keep` behind `crds.keep` (so `helm uninstall` never deletes every
SupportBot). `render_chart_crd` is pure; `sync`/`check` touch the files of a source checkout.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = REPO_ROOT / "crds" / "supportbot.dev_supportbots.yaml"
CHART_COPY = (
    REPO_ROOT / "charts" / "supportbot-operator" / "templates" / "crds" / "supportbots.yaml"
)

_HEADER = (
    "{{- if .Values.crds.install }}\n"
    "# GENERATED from crds/supportbot.dev_supportbots.yaml by `supportbot-operator crd sync`.\n"
    "# Do not edit: change the source and re-run the command (a test checks they match).\n"
)
_ANNOTATIONS = (
    "metadata:\n"
    "  {{- if .Values.crds.keep }}\n"
    "  annotations:\n"
    "    helm.sh/resource-policy: keep\n"
    "  {{- end }}\n"
)


class CrdSyncError(Exception):
    """The checkout does not have the expected layout, or the copy is stale."""


def render_chart_crd(source_text: str) -> str:
    body = "".join(line for line in source_text.splitlines(True) if not line.startswith("#"))
    if "\nmetadata:\n" not in "\n" + body:
        raise CrdSyncError("the CRD source has no top-level metadata block")
    body = body.replace("metadata:\n", _ANNOTATIONS, 1)
    return _HEADER + body + "{{- end }}\n"


def _expected() -> str:
    if not SOURCE.exists():
        raise CrdSyncError(f"{SOURCE} not found: crd sync needs a source checkout")
    return render_chart_crd(SOURCE.read_text())


def sync() -> Path:
    CHART_COPY.parent.mkdir(parents=True, exist_ok=True)
    CHART_COPY.write_text(_expected())
    return CHART_COPY


def check() -> None:
    if not CHART_COPY.exists() or CHART_COPY.read_text() != _expected():
        raise CrdSyncError(
            f"{CHART_COPY.relative_to(REPO_ROOT)} is stale: run `supportbot-operator crd sync`"
        )
