"""Start `supportbot msg91-sim` as a child process on a free loopback port and wait for it.

For tests, the demo and load tests: ``with start_simulator(["--number", N]) as sim: sim.url``.
The child-process machinery is `supportbot.simkit.process`.
"""

from __future__ import annotations

from functools import partial

from supportbot.simkit.process import RunningSimulator, SimulatorStartError, free_port, start_cli

__all__ = ["RunningSimulator", "SimulatorStartError", "free_port", "start_simulator"]

start_simulator = partial(start_cli, "msg91-sim")
"""``start_simulator(args, *, host, port, env, log, timeout) -> RunningSimulator``."""
