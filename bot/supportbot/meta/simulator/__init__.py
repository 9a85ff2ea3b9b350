"""Meta Cloud API simulator: a stand-in for the Graph send API and Meta's signed webhooks.

Beside the MSG91 simulator and in its style:

- `app`: the ASGI app (``POST /{version}/{phone_number_id}/messages`` + ``/_sim/*`` admin);
- `validation`: what the send API accepts, with Graph-style errors (pure); `webhooks`: the
  Cloud API envelope for inbound messages and statuses (pure);
- `state`: recorded requests, accepted messages, read receipts / typing indicators, faults;
  `emitter`: POSTs webhooks to the bot signed with ``X-Hub-Signature-256``;
- `driver.MetaSimulatorClient`: drive a running simulator; `process`: start one; `sink`: a bot
  stand-in that checks signatures and answers the GET handshake;
- `cli`: ``supportbot meta-sim``.

The machinery shared with the other simulators is `supportbot.simkit`.
"""
