"""Vitis HLS generator and C-simulation (hls/ sources, generated headers, tcl, cached g++ builds, ctypes)."""
