"""`make demo`: the main job.

Brings up the whole system locally (see `supportbot_dev.stack`: control plane with KWOK nodes,
Redis, PostgreSQL, the operator installed with Helm, the two example tenants, their webhook and
worker processes started from the pod specs the operator rendered, MSG91 and OpenRouter
simulators, the fake order backend), plays a short scripted conversation per tenant and prints
it (each one's "Track my order" looks the order up in the backend for real), then serves the
phone-simulator page until Ctrl-C and shuts everything down.

`--autoscale` also runs KEDA on the control plane and, after the scripted conversations, shows a
queue-depth scale-up of globex's worker (`supportbot_dev.autoscale`): worker stopped, a burst of
new conversations, worker started, KEDA scaling it up and back down, printed as a timeline.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Protocol

from supportbot.agentapi.tokens import mint_token
from supportbot_dev.autoscale import Sample, ScaleRun, Settings, ascii_plot
from supportbot_dev.conversation import Customer
from supportbot_dev.phone.server import start_page
from supportbot_dev.stack import Stack

SCRIPTS: dict[str, list[str]] = {
    # per example tenant; "@tap" taps the first button/row of the latest menu, "@wait" waits for
    # a message the bot sends on its own (acme: the CSAT question after the order lookup ends)
    "acme": ["hi", "@tap", "ACME-12345", "@wait", "@tap", "Do you also ship to Germany?"],
    "globex": ["hi", "@tap", "GX-100200", "Why is my bill higher this month?"],
}
DEFAULT_SCRIPT = ["hi", "@tap", "Can you help me with my account?"]
MEDIA_SCRIPTS: dict[str, list[str]] = {
    # played after SCRIPTS: "@photo" sends the phone page's sample photo (with a caption),
    # "@location" shares a location, "@voice" a voice note the flow does not take
    "acme": ["My kettle arrived damaged", "@photo"],
    "globex": ["internet down", "@location", "@voice"],
}
SAMPLE_PHOTO = "/static/samples/damaged-kettle.png"
"""Served by the phone page (`--port`), so the page shows the customer's photo."""


class Page(Protocol):
    def stop(self) -> None: ...


def _say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def play_step(customer: Customer, step: str, media_base: str) -> None:
    if step == "@tap":
        customer.tap(0)
    elif step == "@wait":
        customer.wait_replies(timeout=45)
    elif step == "@photo":
        customer.send_media("image", media_base + SAMPLE_PHOTO, "The spout is cracked")
    elif step == "@location":
        customer.share_location(37.7793, -122.4193)
    elif step == "@voice":
        customer.send_media("audio", media_base + "/static/samples/voice-note.ogg")
    else:
        customer.say(step)


def play_script(stack: Stack, media_base: str = "http://127.0.0.1:8765") -> dict[str, list[str]]:
    """One scripted conversation per tenant: greeting, tapping "Track my order", an order number
    (looked up in the fake order backend), a free-text question; then the media script (a
    photo and the bot's image, a shared location, a voice note)."""
    assert stack.msg91 is not None
    transcripts: dict[str, list[str]] = {}
    for i, (name, tenant) in enumerate(stack.bots.items()):
        customer = Customer(
            stack.msg91.url,
            tenant.number,
            phone=f"9198765{43210 + i:05d}",
            name="Asha" if i == 0 else "Ben",
        )
        for step in [*SCRIPTS.get(name, DEFAULT_SCRIPT), *MEDIA_SCRIPTS.get(name, [])]:
            play_step(customer, step, media_base)
        transcripts[name] = customer.transcript
    return transcripts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="phone-simulator page port")
    parser.add_argument(
        "--llm-latency",
        default="uniform:0.5:2",
        help="OpenRouter simulator latency (e.g. uniform:2:10, fixed:0)",
    )
    parser.add_argument(
        "--script-only", action="store_true", help="exit after the scripted conversations (no page)"
    )
    parser.add_argument(
        "--containers",
        action="store_true",
        help="run the operator and the bots as containers of the images `make images` builds "
        "(podman) instead of local processes",
    )
    parser.add_argument(
        "--autoscale",
        action="store_true",
        help="run KEDA too and show a queue-depth scale-up of globex's worker",
    )
    parser.add_argument(
        "--burst", type=int, default=40, help="conversations in the --autoscale burst"
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    scale = Settings()
    stack = Stack(
        llm_latency=args.llm_latency,
        containers=args.containers,
        log=_say,
        keda=args.autoscale,
        pods_per_replicaset=scale.max_replicas if args.autoscale else 1,
        # ~0.5 s a send: one worker process answers about one new conversation a second
        msg91_latency_ms="400:600" if args.autoscale else "",
    )
    page = None
    try:
        _say("step 1-4: platform, simulators, operator, tenants, bot processes")
        stack.start()
        _say("step 5: scripted conversations (customer ↔ bot through the MSG91 simulator)")
        for name, lines in play_script(stack, f"http://127.0.0.1:{args.port}").items():
            tenant = stack.bots[name]
            print(f"\n=== tenant {name} (WhatsApp number {tenant.number}) ===", flush=True)
            print("\n".join(lines), flush=True)
        print(flush=True)
        if args.autoscale:
            show_scale_up(stack, scale, args.burst, stop)
        if args.script_only:
            return 0
        page = _start_page(stack, args.port)
        _say(f"step 6: phone simulator at http://127.0.0.1:{args.port}/  (Ctrl-C stops)")
        while not stop.wait(1.0):
            pass
        return 0
    finally:
        _say("shutting down")
        if page is not None:
            page.stop()
        stack.stop()
        _say("stopped")


def show_scale_up(
    stack: Stack, scale: Settings, burst: int, stop: threading.Event, tenant: str = "globex"
) -> None:
    _say(f"autoscale: {tenant}'s worker on QueueDepth through KEDA ({scale})")
    run = ScaleRun(stack, tenant, log=_say)
    run.configure(scale)
    run.emit("919600000000", "hi")
    expected = run.wait_stable_replies("919600000000")
    _say("autoscale: stopping the worker (KEDA paused-replicas=0)")
    run.stop_worker()
    phones = [f"9196{i:08d}" for i in range(1, burst + 1)]
    run.burst(phones, "hi")
    _say(f"autoscale: {burst} new conversations waiting, backlog {run.backlog()}; starting it")
    run.start_worker()
    samples = run.watch(
        phones,
        expected,
        floor=scale.min_replicas,
        timeout=900,
        on_sample=lambda s: _progress(s, burst, stop),
    )
    print("\n" + ascii_plot(samples, burst) + "\n", flush=True)


def _progress(s: Sample, burst: int, stop: threading.Event) -> None:
    if stop.is_set():
        raise KeyboardInterrupt
    _say(
        f"t={s.t:5.1f}s backlog={s.backlog} replicas={s.replicas} "
        f"worker processes={s.workers} answered={s.answered}/{burst}"
    )


def _start_page(stack: Stack, port: int) -> Page | None:
    """The phone-simulator page (a subprocess), with an agent token per tenant."""
    assert stack.msg91 is not None
    args = ["--msg91-sim", stack.msg91.url]
    for name, tenant in stack.bots.items():
        token = mint_token(
            tenant.values.jwt_secret.encode(),
            agent="demo-agent",
            tenant=name,
            ttl_seconds=12 * 3600,
            now=time.time(),
        )
        token_file = stack.workdir / f"{name}.agent.jwt"
        token_file.write_text(token)
        token_file.chmod(0o600)
        args += [
            "--tenant",
            f"{name}={tenant.number},webhook={stack.webhook_url(name)},token-file={token_file}",
        ]
    page: Page = start_page(args, port=port, log=stack.workdir / "phone-page.log")
    return page


if __name__ == "__main__":
    raise SystemExit(main())
