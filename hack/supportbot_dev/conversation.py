"""Play a customer's side of a conversation through the MSG91 simulator and read the bot's
replies from what the simulator recorded (exact send bodies)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx


def body_payload(body: dict[str, Any]) -> dict[str, Any]:
    """The message part of a recorded send body (flat or `payload` wrapper form)."""
    return dict(body.get("payload") or body)


def interactive_of(body: dict[str, Any]) -> dict[str, Any] | None:
    inner = body_payload(body)
    found = inner.get("interactive") or body.get("interactive")
    return dict(found) if isinstance(found, dict) else None


def choices(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, title) of the reply buttons or list rows of a recorded interactive message."""
    inter = interactive_of(body)
    if not inter:
        return []
    action = inter.get("action", {})
    if inter.get("type") == "button":
        return [(b["reply"]["id"], b["reply"]["title"]) for b in action.get("buttons", [])]
    return [(r["id"], r["title"]) for s in action.get("sections", []) for r in s.get("rows", [])]


MEDIA_TYPES = ("image", "document", "video", "audio", "sticker")


def render(body: dict[str, Any]) -> str:
    """One readable line for a recorded outbound message."""
    inner = body_payload(body)
    kind = body.get("content_type")
    if kind in MEDIA_TYPES and isinstance(inner.get(kind), dict):
        media = inner[kind]
        caption = f" {media['caption']}" if media.get("caption") else ""
        return f"[{kind} {media.get('filename') or media.get('link')}]{caption}"
    if body.get("content_type") == "template" or inner.get("type") == "template":
        tpl = inner.get("template", {})
        return f"[template {tpl.get('name')}]"
    inter = interactive_of(body)
    if inter:
        text = inter.get("body", {}).get("text", "")
        opts = " | ".join(title for _, title in choices(body))
        kind = "buttons" if inter.get("type") == "button" else "list"
        return f"{text}  [{kind}: {opts}]"
    text = body.get("text")
    if isinstance(text, dict):
        return str(text.get("body", ""))
    if isinstance(text, str):
        return text
    return str(inner.get("text", {}).get("body", inner))


@dataclass
class Customer:
    sim_url: str
    number: str
    """The tenant's integrated number."""
    phone: str
    name: str = "Demo Customer"
    seen: int = 0
    transcript: list[str] = field(default_factory=list)
    last: list[dict[str, Any]] = field(default_factory=list)

    def _replies(self) -> list[dict[str, Any]]:
        resp = httpx.get(
            f"{self.sim_url}/_sim/messages",
            params={"to": self.phone, "outcome": "accepted", "integrated_number": self.number},
            timeout=10,
        )
        resp.raise_for_status()
        return list(resp.json()["messages"])

    def _emit(self, spec: dict[str, Any]) -> None:
        spec = {"integrated_number": self.number, "from": self.phone, "name": self.name, **spec}
        httpx.post(f"{self.sim_url}/_sim/inbound", json=spec, timeout=30).raise_for_status()

    def wait_replies(self, timeout: float = 30.0, quiet: float = 1.5) -> list[dict[str, Any]]:
        """New replies since the last call, once none arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        got: list[dict[str, Any]] = []
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            records = self._replies()
            if len(records) > self.seen + len(got):
                got = records[self.seen :]
                last_change = time.monotonic()
            elif got and time.monotonic() - last_change >= quiet:
                break
            time.sleep(0.2)
        self.seen += len(got)
        self.last = got
        for rec in got:
            self.transcript.append(f"  bot      > {render(rec['body'])}")
        return got

    def say(self, text: str, **wait: float) -> list[dict[str, Any]]:
        self.transcript.append(f"  customer > {text}")
        self._emit({"text": text})
        return self.wait_replies(**wait)

    def send_media(
        self, kind: str, url: str, caption: str | None = None, **wait: float
    ) -> list[dict[str, Any]]:
        """Send a file by URL (the simulator emits MSG91's media webhook)."""
        self.transcript.append(f"  customer > [{kind} {url}]" + (f" {caption}" if caption else ""))
        self._emit({"type": kind, "url": url, "text": caption})
        return self.wait_replies(**wait)

    def share_location(
        self, latitude: float, longitude: float, **wait: float
    ) -> list[dict[str, Any]]:
        self.transcript.append(f"  customer > [location {latitude},{longitude}]")
        self._emit({"type": "location", "latitude": latitude, "longitude": longitude})
        return self.wait_replies(**wait)

    def tap(self, index: int = 0, **wait: float) -> list[dict[str, Any]]:
        """Tap the `index`-th button/row of the latest interactive reply."""
        for rec in reversed(self.last):
            opts = choices(rec["body"])
            if opts:
                reply_id, title = opts[min(index, len(opts) - 1)]
                inter = interactive_of(rec["body"]) or {}
                kind = "button_reply" if inter.get("type") == "button" else "list_reply"
                self.transcript.append(f"  customer > (taps) {title}")
                self._emit({"type": kind, "reply_id": reply_id, "text": title})
                return self.wait_replies(**wait)
        raise AssertionError("no interactive reply to tap")
