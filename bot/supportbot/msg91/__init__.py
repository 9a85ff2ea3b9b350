"""MSG91 WhatsApp delivery: the send client, retries, rate limit, 24 h window, delivery reports.

Layers (pure modules decide, thin edges do I/O):

- `limits`, `payloads` (OutboundMessage -> MSG91 request body), `window` (24 h rule and the
  per-turn send plan), `dlr` (delivery-state machine), `backoff`, `errors` (classification): pure.
- `client` (one HTTP attempt), `sending` (retries + rate limit + attempt records), `ratelimit`
  (Redis GCRA), `dlr_consumer` (Redis stream -> `DeliveryStateStore`), `deliverer` (a turn's
  replies, in order, exactly once per turn): I/O edges.
- `simulator`: a stand-alone MSG91 stand-in (send API, recording, faults, webhook emission).
"""
