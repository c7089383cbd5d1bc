"""Performance model: per-instruction cycle costs, schedule with double-buffered weight streaming, roofline."""

from __future__ import annotations

from vitaccel.perf.timing import Timing, instr_cost, resolve_static, schedule

__all__ = ["Timing", "instr_cost", "resolve_static", "schedule"]
