"""Exceptions that carry a user-facing message (the CLI prints them without a traceback)."""

from __future__ import annotations


class VitaccelError(Exception):
    """Base class: the message names what was wrong and what was expected."""


class ConfigError(VitaccelError):
    """A board config, model config or command-line value is invalid."""


class CheckpointError(VitaccelError):
    """A checkpoint / QuantizedModel file has the wrong format, version or architecture."""


class InputError(VitaccelError):
    """An input tensor has the wrong shape, dtype or contains NaN/Inf."""


class FitError(VitaccelError):
    """A model does not fit the accelerator configuration (names layer, need and capacity)."""


class ProgramError(VitaccelError):
    """An instruction stream or memory image is invalid (names the instruction index and reason)."""
