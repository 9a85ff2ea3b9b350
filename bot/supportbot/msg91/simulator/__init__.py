"""MSG91 simulator: a stand-in for MSG91's WhatsApp send API and webhooks, for tests/demo/load.

- `app`: the ASGI app (send API paths + ``/_sim/*`` admin and recording endpoints);
- `validation`: what the send API accepts (pure); `specs` + `webhooks`: inbound/status payload
  builders in MSG91's flat shape and Meta's envelope (pure);
- `state`: recorded requests, accepted messages, faults; `emitter`: POSTs webhooks to the bot;
- `driver.SimulatorClient`: drive a running simulator from Python; `process`: start one;
  `sink`: a bot stand-in that records the webhooks it receives;
- `cli`: ``supportbot msg91-sim``.

What the simulators share (process start, admin client and common ``/_sim`` routes, fault queue,
recording store, webhook POST with retries, CLI options) is `supportbot.simkit`.
"""
