"""ISA simulator (bit-exact reference device `isa`)."""

from __future__ import annotations

from vitaccel.sim.machine import Executed, IsaSimulator, SimError, SimResult

__all__ = ["Executed", "IsaSimulator", "SimError", "SimResult"]
