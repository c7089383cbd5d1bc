#!/usr/bin/env bash
# System packages vitaccel needs that PyPI does not provide: Icarus Verilog (cocotb backend) and tclsh
# (checks the generated Vivado / Vitis HLS tcl against stub procedures). g++ and make are assumed present.
set -euo pipefail
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v tclsh >/dev/null 2>&1 || need+=(tcl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
    echo "vitaccel: missing system packages: ${need[*]} (install them with your package manager," \
         "e.g. 'sudo apt-get install ${need[*]}'); RTL tests on Icarus will be skipped until then." >&2
fi
