"""The agent API: human agents list/search and read conversations, reply through the bot's own
delivery path, take conversations over (the bot stays silent) and hand them back.

Modules: `tokens` (HS256 JWT bearer tokens, with PyJWT), `fields` (edge validation: what
PostgreSQL cannot take is a 422), `schemas` (request/response bodies), `routes`
(`create_router`), `app` (`create_app` standalone, `mount(app, settings)` under ``/api/v1`` of
the webhook app, with OpenAPI at ``/api/v1/openapi.json`` and ``/api/v1/docs``) and `cli`
(``supportbot agent-token``). Import `supportbot.agentapi.app` for `mount`; the package itself
imports nothing, so the token CLI stays light.
"""
