"""MSG91 WhatsApp: the send client, its request bodies, limits and error classes, and the simulator.

Behind the provider interface as `supportbot.provider.msg91_provider`; the provider-neutral
delivery machinery (deliverer, sending with retries, rate limit, 24 h window, delivery reports)
lives in `supportbot.provider`. Pure modules decide, thin edges do I/O:

- `limits`, `payloads` (OutboundMessage -> MSG91 request body), `errors` (classification; also
  the outcome vocabulary the provider interface re-exports): pure.
- `client` (one HTTP attempt): I/O edge.
- `simulator`: a stand-alone MSG91 stand-in (send API, recording, faults, webhook emission).
"""
