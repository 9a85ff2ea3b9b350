"""simkit: the machinery the HTTP simulators of outside services share (dev and test only).

The MSG91 (`supportbot.msg91.simulator`), Meta Cloud API (`supportbot.meta.simulator`) and
OpenRouter (`supportbot.llm.simulator`) simulators stand in for real providers in tests, the demo
and load tests. What is the same logic in them lives here, parametrised by what differs (CLI
sub-command, config and fault-rule models, payload shapes, error bodies); what is the provider's
own (request validation, response and error shapes, webhook payloads, admin routes of its own)
stays in each simulator.

- `process`: start a simulator's CLI as a child process on a free loopback port and wait until
  its ``/_sim/health`` answers (`start_cli`, `RunningSimulator`, `free_port`);
- `driver`: the Python client base of the ``/_sim`` admin API (`AdminClient`: reset, configure,
  faults, recordings, ``wait_for_*`` polling, close / async context manager);
- `faults`: the scripted fault-rule queue (`take_rule`: first matching rule, one use consumed);
- `recording`: the in-memory store of a simulator process (`RecordingState`: sequence, recorded
  requests, accepted messages, emitted webhooks, faults, last inbound per customer; reset to the
  start configuration), and `new_wamid`;
- `emitter`: webhook emission to the bot (`WebhookEmitter`: one HTTP client, POST with retries on
  connection errors and 5xx, background tasks cancelled on close);
- `admin`: the ``/_sim`` routes every WhatsApp simulator has (health, stats, reset, config,
  faults, one message, webhooks) and the app skeleton whose lifespan owns the emitter;
- `cli`: common command-line options and the uvicorn start of ``supportbot <name>-sim``.

Only the simulators, the dev harness (hack/), load tests and tests import this package (the
``simkit`` import-linter contract); production processes (webhook, worker, engine) never do.
"""
