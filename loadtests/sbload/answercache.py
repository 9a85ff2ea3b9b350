"""Answer-cache benchmark: LLM calls saved with a realistic share of repeated questions.

The same customer script runs twice against the whole stack (webhook, one engine worker, Redis,
PostgreSQL, both simulators), once with the answer cache off and once on:

- every customer opens with a greeting ("hi", "hello", "Hi!", "hey", ...: first contact gets the
  flow's welcome, not the LLM), then asks one free-text question;
- `faq_share` of the questions are one of `FAQS` (popularity Zipf-like, weight 1/rank), written
  with the surface variation people use (case, spacing, trailing "?" or "!"); the rest are
  long-tail questions nobody else asks;
- `second_share` of the customers ask a second FAQ afterwards (its context — their first
  question and its answer — is their own, so it is rarely shared; that is the design).

Counted: questions asked, replies received (every question must be answered in both runs),
chat completions the OpenRouter simulator served, and the worker's answer-cache counters.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sbload.ledger import phone_of
from sbload.stack import NUMBER, SECRET, stack
from supportbot.msg91.simulator.specs import InboundSpec
from supportbot.msg91.simulator.webhooks import flat_inbound

INBOUND_PATH = "/webhooks/msg91/inbound"
GREETINGS = ("hi", "hello", "Hi!", "hey", "Hello", "hi there", "HI")
FAQS = (
    "What are your opening hours?",
    "Do you ship to Pune?",
    "How long does delivery take?",
    "Can I return an item?",
    "How do I track my order?",
    "Do you have cash on delivery?",
    "What is your refund policy?",
    "Do you have a physical store?",
    "How much is shipping?",
    "Can I change my delivery address?",
    "Do you ship internationally?",
    "What payment methods do you accept?",
    "Is there a warranty?",
    "How do I cancel my order?",
    "Do you have gift cards?",
    "Can I exchange a size?",
    "Are your products original?",
    "Do you offer EMI?",
    "How do I contact customer care?",
    "When will my refund arrive?",
)


@dataclass
class RunResult:
    cache: bool
    customers: int
    questions: int
    faq_questions: int
    replies_expected: int
    replies: int
    llm_calls: int
    cache_lookups: dict[str, float] = field(default_factory=dict)
    saved_cost_usd: float = 0.0
    seconds: float = 0.0


def _variant(rng: random.Random, text: str) -> str:
    base = text.rstrip("?")
    form = rng.choice((base, base.lower(), base.upper(), f"  {base.lower()} "))
    return form + rng.choice(("?", "", "??", " ?", "!"))


def script(customers: int, faq_share: float, second_share: float, seed: int) -> list[list[str]]:
    """Each customer's messages, in order (the same for both runs)."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, len(FAQS) + 1)]

    def faq() -> str:
        return _variant(rng, rng.choices(FAQS, weights)[0])

    plan = []
    for c in range(customers):
        first = faq() if rng.random() < faq_share else f"question {c} about item SKU-{c:05d}-X"
        messages = [rng.choice(GREETINGS), first]
        if rng.random() < second_share:
            messages.append(faq())
        plan.append(messages)
    return plan


def _body(customer: int, n: int, text: str) -> bytes:
    spec = InboundSpec(phone=phone_of(customer), name=None, type="text", text=text)
    payload = flat_inbound(
        spec,
        NUMBER,
        f"wamid.AC{customer}x{n}",
        f"ac{customer:07d}{n:03d}",
        time.time(),
        ts_format="iso",
        placeholders=True,
    )
    return json.dumps(payload).encode()


async def _replies(client: httpx.AsyncClient, sim_url: str, customer: int) -> int:
    params = {"to": phone_of(customer), "outcome": "accepted"}
    response = await client.get(f"{sim_url}/_sim/messages", params=params)
    response.raise_for_status()
    return len(response.json()["messages"])


async def _customer(
    client: httpx.AsyncClient, bot: str, sim: str, c: int, messages: list[str], patience: float
) -> int:
    """Send each message once the previous one is answered; the replies the last one got."""
    seen = 0
    for n, text in enumerate(messages):
        response = await client.post(
            bot + INBOUND_PATH,
            content=_body(c, n, text),
            headers={"X-Webhook-Secret": SECRET, "Content-Type": "application/json"},
        )
        response.raise_for_status()
        deadline = time.monotonic() + patience
        while (now := await _replies(client, sim, c)) <= seen:
            if time.monotonic() > deadline:
                return seen
            await asyncio.sleep(0.1)  # polling the simulator: waiting for a person's reply
        seen = now
    return seen


def _metric(text: str, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line.rpartition(" ")
            found[labels[len(name) :] or "total"] = float(value)
    return found


async def _drive(bot: str, sim: str, plan: list[list[str]], patience: float) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        gate = asyncio.Semaphore(64)

        async def one(c: int, messages: list[str]) -> int:
            async with gate:
                return await _customer(client, bot, sim, c, messages, patience)

        answered = await asyncio.gather(*(one(c, m) for c, m in enumerate(plan)))
        return sum(answered)


def run_once(workdir: Path, plan: list[list[str]], *, cache: bool, faq_count: int) -> RunResult:
    with stack(workdir) as s:
        s.start_redis()
        s.start_postgres()
        llm = s.start_openrouter("fixed:0.2")
        webhook = s.start_webhook(throttle_per_minute=1000)
        s.start_msg91(webhook.url, order="in_order", duplicates=0, dlr=False)
        worker = s.start_worker(
            "engine",
            answer_cache_enabled=str(cache).lower(),
            coalesce_window_seconds=0,
            throttle_per_minute=1000,
        )
        assert s.msg91 is not None
        started = time.monotonic()
        replies = asyncio.run(_drive(webhook.url, s.msg91.url, plan, patience=30))
        seconds = time.monotonic() - started
        calls = httpx.get(llm + "/_sim/requests").json()
        served = [r for r in calls["requests"] if r.get("status") == 200]
        metrics = httpx.get(worker.metrics_url).text
    lookups = _metric(metrics, "supportbot_answer_cache_lookups_total")
    saved = _metric(metrics, "supportbot_answer_cache_saved_cost_usd_total")
    questions = sum(len(m) - 1 for m in plan)
    return RunResult(
        cache=cache,
        customers=len(plan),
        questions=questions,
        faq_questions=faq_count,
        replies_expected=sum(len(m) for m in plan),  # the welcome, then one answer per question
        replies=replies,
        llm_calls=len(served),
        cache_lookups=lookups,
        saved_cost_usd=sum(saved.values()),
        seconds=round(seconds, 1),
    )


def report(results: list[RunResult], args: dict[str, Any]) -> str:
    off, on = results
    saved = off.llm_calls - on.llm_calls
    share = saved / off.llm_calls if off.llm_calls else 0.0
    lines = [
        "# Answer cache: LLM calls saved with repeated questions",
        "",
        f"Command: `python loadtests/answer_cache.py --customers {args['customers']} "
        f"--faq-share {args['faq_share']} --second-share {args['second_share']} "
        f"--seed {args['seed']}`",
        "",
        f"{off.customers} customers, {off.questions} free-text questions "
        f"({off.faq_questions} of them one of {len(FAQS)} common questions with surface "
        "variation, popularity 1/rank; the rest long-tail), each customer opening with one of "
        f"{len(GREETINGS)} greetings. Same script in both runs; OpenRouter simulator at a fixed "
        "0.2 s; one engine worker.",
        "",
        "| run | replies / expected | LLM calls | cache lookups | saved cost (USD) | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        looked = ", ".join(f"{k} {int(v)}" for k, v in sorted(r.cache_lookups.items())) or "-"
        lines.append(
            f"| cache {'on' if r.cache else 'off'} | {r.replies} / {r.replies_expected} | "
            f"{r.llm_calls} | {looked} | {r.saved_cost_usd:.6f} | {r.seconds} |"
        )
    lines += [
        "",
        f"**LLM calls saved: {saved} of {off.llm_calls} ({share:.0%}).**",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--faq-share", type=float, default=0.7)
    parser.add_argument("--second-share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "results")
    parser.add_argument("--tag", default=time.strftime("%Y-%m-%d") + "-answer-cache")
    ns = parser.parse_args(argv)
    plan = script(ns.customers, ns.faq_share, ns.second_share, ns.seed)
    faq_texts = {t.strip().lower().rstrip("?! ") for t in FAQS}
    faq_count = sum(1 for m in plan for t in m[1:] if t.strip().lower().rstrip("?! ") in faq_texts)
    workdir = Path(tempfile.mkdtemp(prefix="sb-answer-cache-"))
    results = [
        run_once(workdir / "off", plan, cache=False, faq_count=faq_count),
        run_once(workdir / "on", plan, cache=True, faq_count=faq_count),
    ]
    args = {k: getattr(ns, k) for k in ("customers", "faq_share", "second_share", "seed")}
    text = report(results, args)
    ns.out.mkdir(parents=True, exist_ok=True)
    (ns.out / f"{ns.tag}.md").write_text(text, encoding="utf-8")
    doc = {"args": args, "runs": [asdict(r) for r in results]}
    (ns.out / f"{ns.tag}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(text)
    ok = all(r.replies >= r.replies_expected for r in results)
    return 0 if ok else 1
