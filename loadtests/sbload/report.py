"""The Markdown report of one run: machine, versions, command, targets, tables, plot links."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sbload import plots


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += [
        "| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows
    ]
    return out + [""]


def _lat_row(name: str, s: dict[str, Any], scale: float = 1.0, unit: str = "ms") -> list[Any]:
    return [name, s.get("count", 0)] + [
        _f(s.get(k, math.nan) / scale, 1 if unit == "ms" else 2) + f" {unit}"
        for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    ]


def _peak_table(peak: dict[str, dict[str, float]], samples: list[dict[str, Any]]) -> list[str]:
    rows = []
    for name, p in sorted(peak.items()):
        cpu = [s["procs"][name]["cpu"] for s in samples if name in s["procs"]]
        rss = [s["procs"][name]["rss_mb"] for s in samples if name in s["procs"]]
        mean_cpu = sum(cpu) / len(cpu) if cpu else math.nan
        mean_rss = sum(rss) / len(rss) if rss else math.nan
        rows.append([name, mean_cpu, p["cpu"], mean_rss, p["rss_mb"]])
    head = ["process", "CPU mean %", "CPU peak %", "RSS mean MB", "RSS peak MB"]
    return _table(head, rows)


def _verdict(v: dict[str, Any], s: dict[str, Any]) -> list[str]:
    c = s.get("counters", {})
    rows = [
        ["messages sent (distinct ids)", v["messages"]],
        ["accepted, expecting an answer", v["expected"]],
        ["answered", v["answered"]],
        ["**lost** (no answer)", v["lost"]],
        ["**duplicated** (answered twice, or stray marker replies)", v["duplicated"]],
        ["**reordered** (answer older than a previous answer)", v["reordered"]],
        ["throttled by the webhook (not answered by design)", v["throttled"]],
        ["failed to post (after MSG91-style retries)", v["errors"]],
        ["other replies (throttle notices, fallbacks)", v["other_replies"]],
        ["duplicate deliveries posted", c.get("duplicate_deliveries", 0)],
        ["... both deliveries acked 'accepted' (not de-duplicated)", c.get("accepted_twice", 0)],
        ["HTTP 503 / 5xx answers (retried)", sum(n for k, n in c.items() if k.startswith("http_"))],
    ]
    out = _table(["correctness", "count"], rows)
    if v.get("lost_examples"):
        out += ["Lost examples: " + "; ".join(v["lost_examples"]), ""]
    for suspect in v.get("suspects") or ():
        out += [
            f"<details><summary>customer {suspect['customer']}: messages and replies</summary>",
            "",
            "```",
        ]
        out += suspect["messages"] + ["--- replies (simulator order):"] + suspect["replies"]
        out += ["```", "", "</details>", ""]
    return out


def _inflight_peak(result: dict[str, Any]) -> float:
    samples = result.get("samples") or []
    return float(max([s.get("in_flight", 0) for s in samples] or [0]))


def _turn_rate(result: dict[str, Any]) -> float:
    samples = [s for s in result.get("samples") or [] if "turns_total" in s]
    if len(samples) < 2:
        return math.nan
    turns = float(samples[-1]["turns_total"] - samples[0]["turns_total"])
    return turns / max(float(samples[-1]["t"] - samples[0]["t"]), 1.0)


def targets(doc: dict[str, Any]) -> list[list[Any]]:
    ph = doc["phases"]
    rows: list[list[Any]] = []

    def add(name: str, goal: str, value: float, ok: bool, shown: str) -> None:
        rows.append([name, goal, shown, "met" if ok else "**missed**"])

    ack = ph.get("ack", {})
    if "ratio" in ack:
        r = ack["ratio"] * 100
        add("webhook req/s vs bare FastAPI", ">= 45 %", r, r >= 45, f"{r:.1f} %")
        p99 = ack["rounds"][-1]["webhook"].get("p99_ms", math.nan)
        add(
            "ack p99, 100 connections, closed loop (wrk)",
            "<= 50 ms",
            p99,
            p99 <= 50,
            f"{p99:.1f} ms",
        )
        within = [
            step["webhook"]["rate"]
            for step in ack.get("sweep") or []
            if step["webhook"].get("p99_ms", math.inf) <= 50
            and step["webhook"].get("achieved_rate", 0) >= 0.95 * step["webhook"]["rate"]
        ]
        if ack.get("sweep"):
            top = max(within, default=0.0)
            add(
                "highest swept open-loop rate with ack p99 <= 50 ms (100 connections)",
                "report",
                top,
                top > 0,
                f"{top:.0f} req/s",
            )
        fixed = ack.get("fixed_rate", {}).get("webhook", {})
        if fixed:
            p = fixed.get("p99_ms", math.nan)
            add(
                f"ack p99, 100 connections, open loop {fixed['rate']:.0f} req/s",
                "<= 50 ms",
                p,
                p <= 50,
                f"{p:.1f} ms",
            )

    def rss_and_verdict(result: dict[str, Any], who: str) -> None:
        rss = result["peak"].get("worker", {}).get("rss_mb", math.nan)
        add("worker RSS at that load", "<= 300 MB", rss, rss <= 300, f"{rss:.0f} MB")
        v = result["verdict"]
        bad = v["lost"] + v["duplicated"] + v["reordered"]
        add(
            f"{who}: lost / duplicated / reordered",
            "0 / 0 / 0",
            bad,
            bad == 0,
            f"{v['lost']} / {v['duplicated']} / {v['reordered']}",
        )

    cust = ph.get("customers", {})
    if "verdict" in cust:
        peak = _inflight_peak(cust)
        customers = int(doc["scenario"]["customers"])
        if customers > 1000:
            add(
                "turns in flight in one worker (2-10 s LLM)",
                ">= 1,000",
                peak,
                peak >= 1000,
                f"{peak:.0f}",
            )
        else:  # one turn per customer at a time: this run cannot show more than `customers`
            rows.append(
                [
                    f"turns in flight in one worker (2-10 s LLM; at most {customers:,} here, "
                    "one per customer: see the queued-conversations row)",
                    f"<= {customers:,}",
                    f"{peak:.0f}",
                    "(bounded)",
                ]
            )
        rss_and_verdict(cust, f"{customers} customers")
    inflight = ph.get("inflight", {})
    if "verdict" in inflight:
        peak = _inflight_peak(inflight)
        add(
            f"turns in flight in one worker, {inflight['customers']} conversations queued first",
            ">= 1,000",
            peak,
            peak >= 1000,
            f"{peak:.0f} ({inflight['seconds_at_or_above_1000']:.1f} s at >= 1,000)",
        )
        rss_and_verdict(inflight, f"{inflight['customers']} queued conversations")
    for over in ph.get("overhead", {}).get("runs", []):
        if "summary" not in over:
            continue
        p99 = over["summary"]["e2e"].get("p99_ms", math.nan)
        achieved = over["summary"]["requests"] / max(over["seconds"], 1)
        add(
            f"end-to-end overhead p99, 0 ms LLM, {over['rate']:.0f} msg/s "
            f"(achieved {achieved:.0f}), {_workers(over)}",
            "<= 100 ms",
            p99,
            p99 <= 100,
            f"{p99:.1f} ms",
        )
    return rows


def _ack_section(ack: dict[str, Any]) -> list[str]:
    out = ["## Webhook acknowledgement: bare FastAPI vs `supportbot webhook`", ""]
    out += [
        f"wrk, closed loop, {ack['connections']} connections, {ack['seconds']:.0f} s per "
        "run after a 2 s warm-up, 2 threads; every request a new message id and customer; "
        "bare and webhook alternate within the same run.",
        "",
    ]
    rows = []
    for n, r in enumerate(ack["rounds"], 1):
        for name in ("bare", "webhook"):
            x = r[name]
            rows.append(
                [
                    f"{n}",
                    name,
                    x["req_per_s"],
                    x.get("p50_ms"),
                    x.get("p99_ms"),
                    x.get("max_ms"),
                    x["non_2xx"],
                    x["socket_errors"],
                ]
            )
    head = ["round", "server", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "socket err"]
    out += _table(head, rows)
    out += [
        f"**Ratio webhook / bare: {ack['ratio'] * 100:.1f} %** "
        f"({ack['webhook_req_per_s']:.0f} vs {ack['bare_req_per_s']:.0f} req/s).",
        "",
    ]
    cpu = ack.get("cpu_per_request_us") or {}
    if cpu:
        out += [
            f"Server CPU per request at saturation: bare {cpu['bare']:.0f} µs, "
            f"webhook {cpu['webhook']:.0f} µs.",
            "",
        ]
    fixed = ack.get("fixed_rate") or {}
    if fixed:
        out += [
            "Open loop (fixed arrival rate, the load driver's raw client, 100 connections):",
            "",
        ]
        rows = [_lat_row(f"{k} @ {v['rate']:.0f}/s", v) for k, v in fixed.items()]
        for step in ack.get("sweep") or []:
            rows += [_lat_row(f"{k} @ {v['rate']:.0f}/s", v) for k, v in step.items()]
        out += _table(["server", "requests", "p50", "p95", "p99", "max"], rows)
    prof = ack.get("profile")
    if prof:
        out += [f"py-spy profile of the webhook at saturation ({prof['samples']} samples):", ""]
        out += _table(
            ["self time by package/module", "%"], [[k, v] for k, v in prof["self_by_area"]]
        )
        out += _table(
            ["inclusive time by function", "%"], [[k, v] for k, v in prof["inclusive_by_function"]]
        )
    return out


def _run_section(title: str, r: dict[str, Any], folder: Path, name: str, key: str) -> list[str]:
    if "failed" in r:
        return [f"## {title}", "", f"FAILED: {r['failed']}", ""]
    s = r["summary"]
    out = [f"## {title}", ""]
    out += [
        f"Customers acted for {r.get('acting_seconds', r.get('seconds', 0)):.0f} s; "
        f"draining the last answers took {r['drain_seconds']:.0f} s. "
        f"Worker turns/s (mean): {_f(_turn_rate(r))}; peak turns in flight: "
        f"{_inflight_peak(r):.0f}.",
        "",
    ]
    out += _verdict(r["verdict"], s)
    out += _table(
        ["latency", "count", "p50", "p95", "p99", "max"],
        [_lat_row("webhook ack", s["ack"])]
        + (
            [_lat_row("webhook ack outside the surge", r["ack_outside_surge"])]
            if r.get("ack_outside_surge")
            else []
        )
        + [_lat_row("end to end (post -> reply)", s["e2e"])],
    )
    out += _peak_table(r.get("peak") or {}, r.get("samples") or [])
    for path in plots.phase_plots(r, folder / name, key):
        out += [f"![{path.stem}]({name}/{path.name})", ""]
    if s.get("errors"):
        out += ["First errors:", "", *[f"- `{e}`" for e in s["errors"][:10]], ""]
    return out


def _naive_section(n: dict[str, Any], folder: Path, name: str) -> list[str]:
    out = ["## Worker vs the naive design (enqueue per message + classic rq workers)", ""]
    out += [
        f"Same customers ({n['customers']}) for {n['seconds']:.0f} s each, LLM simulator "
        f"latency as in the scenario. Ours: one `supportbot worker` with the `llm-echo` "
        f"handler (one LLM call + one MSG91 send per turn). Naive: `sbload.naive` webhook "
        f"+ {n['rq_workers']} forking `rq worker` process(es) = the worker's peak RSS "
        f"({n['memory_budget_mb']:.0f} MB) / {n['rq_worker_idle_rss_mb']:.0f} MB per idle "
        "rq worker.",
        "",
    ]
    rows = []
    for label in ("ours", "naive"):
        r = n[label]
        if "failed" in r:
            rows.append([label, r["failed"], "", "", "", "", "", ""])
            continue
        v, s = r["verdict"], r["summary"]
        rows.append(
            [
                label,
                v["answered"],
                v["expected"],
                v["lost"],
                v["duplicated"],
                v["reordered"],
                _f(s["e2e"].get("p50_ms", math.nan) / 1000, 2) + " s",
                _f(s["e2e"].get("p99_ms", math.nan) / 1000, 2) + " s",
            ]
        )
    head = [
        "design",
        "answered",
        "expected",
        "unanswered",
        "duplicated",
        "reordered",
        "reply p50",
        "reply p99",
    ]
    out += _table(head, rows)
    ours, naive = n["ours"], n["naive"]
    if "verdict" in ours and "verdict" in naive:
        a, b = ours["verdict"]["answered"], max(naive["verdict"]["answered"], 1)
        out += [f"Answered-message ratio ours / naive: **{a / b:.1f}x** at the same memory.", ""]
    for label in ("ours", "naive"):
        if "samples" in n[label]:
            out += [f"### {label}", ""]
            out += _peak_table(n[label].get("peak") or {}, n[label]["samples"])
            for path in plots.phase_plots(n[label], folder / name, f"naive-{label}"):
                out += [f"![{path.stem}]({name}/{path.name})", ""]
    return out


def write(doc: dict[str, Any], folder: Path, name: str) -> Path:
    m = doc["machine"]
    sc = doc["scenario"]
    out = [f"# Load test {name}", ""]
    out += [
        f"- Started {doc['started']}, finished {doc.get('finished', '?')} (UTC).",
        f"- Command: `{doc['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['platform']}; "
        f"Python {m['python']}; {m['redis']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}. The load driver, "
        "the simulators, Redis, PostgreSQL and the system under test share these cores.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- Scenario `{sc['name']}` ({sc['source']}): {sc['customers']} customers, handler "
        f"`{sc['handler']}`, LLM latency `{sc['llm_latency']}`, think "
        f"{sc['think_seconds']['low']:.0f}-{sc['think_seconds']['high']:.0f} s, "
        f"{sc['duplicate_share'] * 100:.0f} % duplicate deliveries, statuses "
        f"{sc['status_order']} x{sc['status_duplicates'] + 1}, coalescing window "
        f"{sc['coalesce_window_seconds']} s.",
        "",
    ]
    rows = targets(doc)
    if rows:
        out += ["## Targets (benchmarks, not tests)", ""]
        out += _table(["target", "goal", "measured", ""], rows)
    ph = doc["phases"]
    if "ack" in ph:
        out += (
            _ack_section(ph["ack"])
            if "ratio" in ph["ack"]
            else ["## Webhook ack", "", f"FAILED: {ph['ack'].get('failed')}", ""]
        )
    if "customers" in ph:
        out += _run_section(
            f"{sc['customers']} customers through the whole stack",
            ph["customers"],
            folder,
            name,
            "customers",
        )
    if "inflight" in ph:
        out += _run_section(
            f"One worker process takes {ph['inflight'].get('customers', '?')} queued "
            "conversations at once (llm-echo handler, the scenario's LLM latency)",
            ph["inflight"],
            folder,
            name,
            "inflight",
        )
    if "naive" in ph:
        out += (
            _naive_section(ph["naive"], folder, name)
            if "ours" in ph["naive"]
            else ["## Naive", "", f"FAILED: {ph['naive'].get('failed')}", ""]
        )
    for run in ph.get("overhead", {}).get("runs", []):
        replicas = int(run.get("replicas", 1))
        out += _run_section(
            f"End-to-end overhead with a 0 ms LLM at {run.get('rate', 0):.0f} msg/s, "
            f"{_workers(run)} (echo handler, no coalescing, no delivery reports, after "
            f"{run.get('warmup_seconds', 0):.0f} s of warm-up)",
            run,
            folder,
            name,
            f"overhead-{run.get('rate', 0):.0f}" + (f"-x{replicas}" if replicas > 1 else ""),
        )
    if "seed" in ph:
        from sbload import seedreport

        out += seedreport.section(ph["seed"], folder, name)
    path = folder / f"{name}.md"
    path.write_text("\n".join(out))
    return path


def _workers(run: dict[str, Any]) -> str:
    n = int(run.get("replicas", 1))
    return "1 worker process" if n == 1 else f"{n} worker processes"
