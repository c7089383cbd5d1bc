"""RTL generation: SystemVerilog packages, table (.mem) files and resource estimates for hw/rtl.

Every constant the RTL needs (widths, rounding, table contents) is read from `vitaccel.golden` and written into
build/rtl/gen/ by these generators; nothing is retyped in SystemVerilog.
"""
