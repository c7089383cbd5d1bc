"""Compiler: QuantizedModel + AcceleratorConfig + task -> program, memory image and manifest (docs/isa.md)."""

from __future__ import annotations

from vitaccel.compiler.lower import CompiledProgram, compile_model

__all__ = ["CompiledProgram", "compile_model"]
