"""The fault suite's Markdown report: the table, how it was measured, and each fault's details
(pure: a JSON-able document in, Markdown out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sbload.faults.table import FaultRow, render_table, row_from_dict

METHOD = """\
**How it is measured.** Each fault gets a fresh stack on loopback: private Redis (AOF
`appendfsync everysec`) and PostgreSQL (synchronous commits), the OpenRouter simulator, the MSG91
simulator (records every send; fault API), `supportbot webhook` and `supportbot worker` (engine
handler, load-test flow). Customers each send a first message (answered by the flow's
`LT-WELCOME`) and then texts the LLM simulator quotes, each carrying a correlation token; a
customer writes again when answered or after a timeout. A share of webhooks is delivered twice.
The fault starts mid-load and is healed; customers keep writing for a while after the heal;
then the driver polls the ledger until every acknowledged message is answered or the deadline
passes.

- **acked**: messages the webhook acknowledged (2xx). A POST answered 5xx or a failed connection
  is retried like a provider would ({attempts} attempts, backoff 0.25 s doubling up to 4 s, ~20 s
  in all); a message never acknowledged is **unacked** (not counted as lost, but it fails the
  row: the provider gave up on it). **webhook non-2xx** counts every such answer over all
  attempts (for idle-connections any non-2xx fails the row).
- **lost / duplicated / reordered**: the ledger's verdict over the replies in the MSG91
  simulator's order (loadtests/README.md, "Correlation").
- **dead-lettered**: `LLEN sb:loadtest:dead` after the wait. **fallback replies**: replies with
  the flow's LLM-failure text (`LT-FALLBACK`); a storage error must never reach the customer as
  an LLM failure. Such a reply names no message, so the message it stood for counts as lost
  too.
- **time to recover**: from the heal (service back, last worker restarted, connections closed)
  to the last answer of a message sent before it; "not recovered" when one is still
  unanswered at the deadline. **slowest answer**: the longest wait of an answered message.
"""


def render(doc: Mapping[str, Any]) -> str:
    rows = [row_from_dict(r) for r in doc["rows"]]
    load = doc["suite"]["load"]
    failing = [r for r in rows if not r.ok]
    lines = [
        f"# Fault suite ({doc['suite']['name']}): {doc['name']}",
        "",
        f"Command: `{doc['command']}`; started {doc['started']}, finished {doc['finished']}; "
        f"commit `{doc.get('commit', '?')}` (bot code from `{doc.get('bot_code', '?')}`); "
        "load average at start "
        f"{', '.join(f'{x:.1f}' for x in doc['machine']['load_average_at_start'])} "
        f"({doc['machine']['cores']} cores).",
        "",
        f"Load per fault: {load['customers']} customers x {load['messages']} messages, "
        f"{load['duplicate_share'] * 100:g} % delivered twice, LLM {load['llm_latency']}, fault "
        f"at +{load['fault_at']:g} s, answers awaited up to {load['recover_seconds']:g} s after "
        "the last message.",
        "",
        render_table(rows),
        "",
        f"**Verdict: {'PASS' if not failing else 'FAIL'}** "
        f"({len(rows) - len(failing)} of {len(rows)} faults pass).",
        "",
        METHOD.format(attempts=load["webhook_attempts"]),
        "## Details",
        "",
    ]
    for row in rows:
        lines += _details(row, doc["runs"].get(row.fault, {}))
    return "\n".join(lines).rstrip() + "\n"


def _details(row: FaultRow, run: Mapping[str, Any]) -> list[str]:
    out = [f"### {row.fault}", ""]
    if not run:
        return [*out, row.notes, ""]
    at, healed = run.get("injected_at"), run.get("healed_at")
    timing = []
    if at is not None:
        timing.append(f"injected at +{at:.1f} s")
    if healed is not None:
        timing.append(f"healed at +{healed:.1f} s")
    timing.append(f"last message sent at +{run.get('load_seconds', 0):.1f} s")
    timing.append(f"waited {run.get('wait_seconds', 0):.1f} s for answers")
    out += [", ".join(timing) + ".", ""]
    status = run.get("ack_status") or {}
    if status:
        out += ["Webhook answers: " + ", ".join(f"{k}: {v:,}" for k, v in status.items()), ""]
    verdict = run.get("verdict") or {}
    if verdict.get("lost_examples"):
        out += ["Lost (examples): " + "; ".join(verdict["lost_examples"]), ""]
    counts = {
        name: summary.get("counts", {}) for name, summary in run.get("process_logs", {}).items()
    }
    noisy = {n: {k: v for k, v in c.items() if v} for n, c in counts.items()}
    if any(noisy.values()):
        out += [
            "Process logs: "
            + "; ".join(
                f"{n}: " + ", ".join(f"{k} x{v}" for k, v in c.items())
                for n, c in noisy.items()
                if c
            ),
            "",
        ]
    out += _suspects(verdict.get("suspects") or [])
    return out


def _suspects(suspects: Sequence[Mapping[str, Any]], limit: int = 2) -> list[str]:
    out: list[str] = []
    for s in suspects[:limit]:
        out += [f"<details><summary>customer {s['customer']}</summary>", "", "```"]
        out += [*s.get("messages", []), *s.get("replies", [])]
        out += ["```", "</details>", ""]
    return out
