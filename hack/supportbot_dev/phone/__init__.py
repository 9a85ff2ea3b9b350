"""Phone simulator page for the demo: a WhatsApp-like chat with a tenant's bot through the MSG91
simulator, plus an agent view backed by the tenant's agent API.

Modules: `config` (tenants, customers, CLI specs), `timeline` (pure: simulator recordings ->
chat bubbles and ticks), `upstream` (simulator / agent-API HTTP calls), `app` (`create_app`, the
ASGI app serving ``static/``), `server` (run it: in this event loop or as a subprocess), `cli`
(``python -m supportbot_dev.phone``) and `browser` (headless Chromium for tests).
"""
