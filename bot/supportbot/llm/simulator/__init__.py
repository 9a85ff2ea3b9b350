"""OpenRouter simulator: an OpenAI-compatible chat-completions server with configurable latency,
failure modes and recorded requests, for development and tests (CLI: `supportbot openrouter-sim`).
"""

from supportbot.llm.simulator.app import SimState, create_app
from supportbot.llm.simulator.faults import FaultRule, Latency
from supportbot.llm.simulator.replies import MARKER, reply_text

__all__ = ["MARKER", "FaultRule", "Latency", "SimState", "create_app", "reply_text"]
