"""Meta WhatsApp Cloud API: the Graph send client, its error classes, webhook signatures.

Facts from shared/reference/msg91-whatsapp.md §2 (see README.md in this package for each one's
section and what stays unconfirmed). Pure modules decide, thin edges do I/O:

- `limits`, `payloads` (OutboundMessage / media / template -> Graph request body), `errors`
  (classification of one attempt's answer into retry classes), `signature` (``X-Hub-Signature-256``
  and the ``hub.*`` GET handshake), `readplan` (which inbound message to mark read, and whether
  to show the typing indicator, when a turn starts): pure.
- `client` (one HTTP attempt against ``/{version}/{phone_number_id}/messages``): I/O edge.
- `simulator`: a stand-alone Cloud API stand-in (send API, validation, recording, faults, signed
  webhook emission), beside the MSG91 one.

Inbound webhook bodies (the ``entry[].changes[].value`` envelope) are parsed by
`supportbot.webhook.parsing` (one parser for both providers), not here.
"""
