"""The `rtlsim` backend of `vitaccel verify` (and the runtime's rtlsim device): vitaccel_top simulated by Verilator
through the harness of vitaccel.rtlgen.rtlsim. Interface: vitaccel.verify.Backend.

Each run uses a fresh model (ACT and weight buffers start at zero, as in the ISA simulator). The DDR holds the
memory image, the program, the input and the OUTPUT region at 4 KiB-aligned addresses above `DDR_BASE`, with
4 KiB gaps between them; the AXI4-Lite master programs PROGRAM_ADDR / INSTR_COUNT / IMAGE_ADDR / INPUT_ADDR /
OUTPUT_ADDR, starts and waits for ap_done. A STATUS error raises vitaccel.sim.machine.SimError with the same
code and instruction index (ERROR_PC; -1 for the memory image) as the ISA simulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitaccel import isa
from vitaccel.errors import ProgramError, VitaccelError
from vitaccel.isa import ErrorCode
from vitaccel.isa.image import parse_header
from vitaccel.isa.regmap import decode_status
from vitaccel.rtlgen.rtlsim import DdrTiming, RtlsimModel, RtlsimTimeout, RunResult

DDR_BASE = 0x1000_0000  # AXI address of the DDR model's first byte (above 4 GiB bit patterns are not needed)
GAP = 4096
DEFAULT_MAX_CYCLES = 50_000_000


def _align(n: int, a: int = GAP) -> int:
    return -(-n // a) * a


class RtlsimBackend:
    """run(program, image, inputs) -> (OUTPUT region bytes as uint8, CYCLES register).

    max_cycles: clocks after ap_start before the run is abandoned (RtlsimTimeout); timing: DDR model timing
    (default: the board's, vitaccel.isa.uarch); trace: build with VCD tracing (trace_path per run; FST would need
    lz4.h, which the PyPI wheel's build lacks);
    build_kw: rtl_dir / sources of vitaccel.rtlgen.rtlsim.build. `last` is the RunResult of the last run."""

    name = "rtlsim"

    def __init__(self, cfg: Any, max_cycles: int = DEFAULT_MAX_CYCLES, timing: DdrTiming | None = None,
                 trace: bool = False, log: Any = None, **build_kw: Any):
        self.cfg = cfg
        self.max_cycles = int(max_cycles)
        self.model = RtlsimModel(cfg, trace=trace, timing=timing, log=log, **build_kw)
        self.last: RunResult | None = None
        self.last_output: np.ndarray | None = None  # the OUTPUT region after the last run (also after an error)
        self.layout: dict[str, int] = {}

    def run(self, program: bytes, image: bytes, inputs: np.ndarray, max_cycles: int | None = None,
            trace_path: str | None = None, timing: DdrTiming | None = None) -> tuple[np.ndarray, int | None]:
        """See the class; max_cycles / timing / trace_path (trace builds) for this run only."""
        from vitaccel.sim.machine import SimError

        image = bytes(image)
        program = bytes(program)
        inp = np.ascontiguousarray(inputs, dtype=np.uint8).reshape(-1).tobytes()
        try:
            hdr = parse_header(image, check_crc=False)
            out_bytes = hdr.output_bytes
            # the ISA simulator's host-side checks (buffers shorter than the header says): no hardware equivalent
            if len(image) < hdr.image_bytes:
                raise SimError(ErrorCode.BAD_IMAGE, -1, f"image is {len(image)} bytes, header says {hdr.image_bytes}")
            if len(inp) < hdr.input_bytes:
                raise SimError(ErrorCode.BAD_IMAGE, -1, f"input is {len(inp)} bytes, header says {hdr.input_bytes}")
        except SimError:
            raise
        except ProgramError:
            out_bytes = 0  # the hardware reports BAD_IMAGE itself
        lay: dict[str, int] = {}
        at = GAP
        for name, size in (("image", len(image)), ("program", len(program)), ("input", len(inp)),
                           ("output", out_bytes)):
            lay[name] = at
            at = _align(at + max(size, 1)) + GAP
        mem = np.zeros(at, dtype=np.uint8)
        for name, data in (("image", image), ("program", program), ("input", inp)):
            mem[lay[name]:lay[name] + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.layout = {k: DDR_BASE + v for k, v in lay.items()}
        res = self.model.run(mem, self.layout["program"], len(program) // isa.INSTR_BYTES, self.layout["image"],
                             self.layout["input"], self.layout["output"],
                             self.max_cycles if max_cycles is None else int(max_cycles), ddr_base=DDR_BASE,
                             trace_path=trace_path, timing=timing)
        self.last = res
        o = lay["output"]
        self.last_output = mem[o:o + out_bytes].copy()
        code, _, done = decode_status(res.status)
        if res.timed_out:
            raise RtlsimTimeout(f"rtlsim: no ap_done within {res.run_cycles} clocks (STATUS 0x{res.status:x}, "
                                f"ERROR_PC 0x{res.error_pc:x}, CYCLES {res.cycles})", res)
        if res.axi_errors:
            raise VitaccelError(f"rtlsim: {res.axi_errors} AXI access(es) outside the DDR model or with a wrong WLAST "
                                f"(STATUS 0x{res.status:x})")
        if code != ErrorCode.NONE:
            pc = -1 if res.error_pc == 0xFFFFFFFF else int(res.error_pc)
            raise SimError(code, pc, f"rtlsim: STATUS 0x{res.status:x}, ERROR_PC 0x{res.error_pc:x}")
        if not done:
            raise VitaccelError(f"rtlsim: ap_done without STATUS.done (STATUS 0x{res.status:x})")
        return self.last_output.copy(), int(res.cycles)


__all__ = ["DDR_BASE", "DEFAULT_MAX_CYCLES", "RtlsimBackend"]
