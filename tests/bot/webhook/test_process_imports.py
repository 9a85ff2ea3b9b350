"""The webhook process does not load the conversation engine: importing its app (which mounts the
agent API, whose replies go through `outbound.open_delivery`) leaves the LLM client and the flow
engine out of `sys.modules`. import-linter's `webhook-process` contract keeps the static graph so;
this test checks what a fresh interpreter really imports."""

from __future__ import annotations

import json
import subprocess
import sys

ENGINE_ONLY = (
    "supportbot.llm",
    "supportbot.flow",
    "supportbot.engine.runtime",
    "supportbot.engine.conversation",
)

PROBE = (
    "import json, sys\n"
    # webhook.app imports the agent API inside create_app; the probe imports what that loads
    "import supportbot.webhook.app, supportbot.webhook.server, supportbot.agentapi.app\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith('supportbot'))))\n"
)


def test_webhook_app_does_not_import_the_conversation_engine() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    assert "supportbot.agentapi.app" in loaded  # the probe did load the mounted agent API
    assert "supportbot.outbound" in loaded
    leaked = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in ENGINE_ONLY)]
    assert leaked == []
