"""Reading the Vitis HLS synthesis report (<project>/vitaccel_hls/solution1/syn/report/csynth.xml).

The figures are put in the shape of `vitaccel estimate --json` ("resources": dsp / bram36 / uram with the board's
budget and "fits"; "cycles", "latency_ms"), plus LUT / FF, so the estimate and the synthesis result compare
field by field. Written against the documented csynth.xml layout (AreaEstimates/Resources, AvailableResources,
PerformanceEstimates/SummaryOfOverallLatency, SummaryOfTimingAnalysis); it has not met a real report on this
machine (no Vitis HLS here): treat a None result as "no report". For an instruction-driven kernel the reported
latency is of the sequencer's loop bounds, not of a model: per-model cycles need C/RTL co-simulation.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from vitaccel.boards import load_board
from vitaccel.hlsgen.project import PROJECT, SOLUTION


def _num(node: ET.Element | None, path: str) -> float | None:
    if node is None:
        return None
    el = node.find(path)
    if el is None or el.text is None:
        return None
    try:
        return float(el.text)
    except ValueError:
        return None  # e.g. "undef" latency of loops with variable bounds


def csynth_xml_path(project_dir: Path) -> Path:
    return Path(project_dir) / PROJECT / SOLUTION / "syn" / "report" / "csynth.xml"


def read_csynth_report(project_dir: Path, board: str | None = None) -> dict[str, Any] | None:
    """Synthesis figures in the `vitaccel estimate` shape, or None when the report is absent."""
    path = csynth_xml_path(project_dir)
    if not path.is_file():
        return None
    root = ET.parse(path).getroot()
    area = root.find("AreaEstimates/Resources")
    avail = root.find("AreaEstimates/AvailableResources")
    perf = root.find("PerformanceEstimates")
    b = load_board(board) if board else None

    def used(key: str) -> int | None:
        v = _num(area, key)
        return None if v is None else int(v)

    bram18 = used("BRAM_18K")
    bram36 = None if bram18 is None else -(-bram18 // 2)
    dsp, uram = used("DSP"), used("URAM") or 0
    dsp_av = b.dsp if b else used_av(avail, "DSP")
    bram_av = b.bram36 if b else (None if used_av(avail, "BRAM_18K") is None else used_av(avail, "BRAM_18K") // 2)
    uram_av = b.uram if b else (used_av(avail, "URAM") or 0)
    res: dict[str, Any] = {
        "dsp": dsp, "dsp_available": dsp_av,
        "dsp_fraction": round(dsp / dsp_av, 3) if dsp is not None and dsp_av else None,
        "bram36": bram36, "bram36_available": bram_av,
        "bram_fraction": round(bram36 / bram_av, 3) if bram36 is not None and bram_av else None,
        "uram": uram, "uram_available": uram_av,
        "lut": used("LUT"), "ff": used("FF"),
    }
    res["fits"] = bool(dsp is not None and bram36 is not None and dsp_av and bram_av and dsp <= dsp_av
                       and bram36 <= bram_av and uram <= (uram_av or 0))
    worst = _num(perf, "SummaryOfOverallLatency/Worst-caseLatency")
    clock = _num(perf, "SummaryOfTimingAnalysis/EstimatedClockPeriod")
    target = _num(perf, "SummaryOfTimingAnalysis/TargetClockPeriod") if perf is not None else None
    return {
        "source": str(path),
        "resources": res,
        "cycles": None if worst is None else int(worst),
        "latency_ms": None if worst is None or not target else worst * target * 1e-6,
        "clock_ns": {"target": target, "estimated": clock},
    }


def used_av(avail: ET.Element | None, key: str) -> int | None:
    v = _num(avail, key)
    return None if v is None else int(v)
