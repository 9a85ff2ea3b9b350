"""The conversation engine: the `TurnHandler` that turns a coalesced `Turn` into replies.

Modules: `conversation` (`ConversationEngine`: record, decide, ask the LLM, persist effects,
deliver, record the turn), `plan` (the per-turn `TurnPlan` kept for retries, and the pure helpers),
`delivery` (the one delivery path of bot and agent replies: history rows + MSG91 `Deliverer`),
`control` (handoff / opt-out persistence), `codec`, `metrics`, and `runtime` (resources from
settings, the background archiver and delivery-report consumer, and the worker's handler factory
``supportbot.engine.runtime:engine_handler``).
"""
