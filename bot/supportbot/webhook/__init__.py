"""The tenant's webhook process: acknowledge MSG91/Meta webhooks fast, hand them to Redis.

Endpoints (see :mod:`supportbot.webhook.app`):

    POST /webhooks/msg91/inbound   inbound customer messages (status payloads accepted too)
    POST /webhooks/msg91/status    delivery/read reports (message payloads accepted too)
    GET  /healthz, /readyz, /metrics

Authentication: header ``settings.webhook_secret_header`` (default ``X-Webhook-Secret``) holding
the tenant's shared secret; ``?token=<secret>`` only when ``webhook_allow_query_token`` is on.

Layout: `parsing/` (pure payload parsing), `auth`, `body` (pure checks), `handling` (the
acknowledgement path), `fastpath` (serves the POSTs ahead of FastAPI's stack), `reports`
(delivery-report store), `readiness`, `metrics`, `app` (`create_app`) and `server`
(`supportbot webhook`).
"""
