"""One WhatsApp provider interface (MSG91 or Meta's Cloud API) and the provider-neutral delivery
machinery the engine, the agent API and the delivery-report pipeline use.

Layers (pure modules decide, thin edges do I/O):

- `interface`: the `Provider` protocol (build the request for a reply + one classified attempt,
  mark read / typing, health check, template listing) and its `Capabilities`; `msg91_provider`
  and `meta_provider` implement it over `supportbot.msg91.client` / `supportbot.meta.client`;
  `select.open_provider` picks one from `settings.provider` (the only place that decides).
- `webhooks`: Meta's webhook authenticity (signature over the raw body, GET handshake) bound
  to the tenant's settings, for the webhook process.
- `window` (24 h rule and the per-turn send plan), `dlr` (delivery-state machine), `backoff`:
  pure.
- `sending` (retries + rate limit + attempt records), `ratelimit` (Redis GCRA), `claims`,
  `deliverer` (a turn's replies, in order, exactly once per turn), `indoubt`, `dlr_consumer`
  (Redis stream -> `DeliveryStateStore`), `health`: I/O edges, provider-neutral.

Nothing outside this package imports `supportbot.msg91` or `supportbot.meta` (the import-linter
contract ``providers-behind-interface``; exceptions are listed there).

This `__init__` imports nothing: the webhook process imports `provider.webhooks` and
`provider.health` only.
"""
