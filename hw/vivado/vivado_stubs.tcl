# vivado_stubs.tcl: run a generated build.tcl in plain tclsh with stub Vivado commands (written for vitaccel).
#
#   tclsh vivado_stubs.tcl <build.tcl> <expect.tcl>
#
# <expect.tcl> sets ::expect(...) (what the board config says the design must be) and optionally ::stub(...)
# (how the simulated Vivado behaves: installed board parts, slack, run failures, hwh location...). See
# vitaccel.vivado.tclcheck for the keys.
#
# Each stub validates its options (known options, values from the allowed sets) and the project's expectations
# (part string, board part, known VLNVs, files that exist, PS properties that exist, HP count / width, PL clock,
# connections of every enabled interface and clock pin, addresses that reach DDR, legal command order). It models
# the block design (cells, interface pins that exist only when enabled, nets, address segments) and the files a
# real run leaves (.xpr, wrapper, .bit, .hwh, reports) so the script's own file handling runs for real.
# Every accepted command prints "CMD <name> <args>"; the first violation prints "STUB-ERROR <message>" and
# exits with status 3. The script's own `exit N` prints "STUB-EXIT N"; normal completion prints "STUB-OK".

if {[llength $argv] != 2} {
    puts stderr "usage: tclsh vivado_stubs.tcl <build.tcl> <expect.tcl>"
    exit 2
}
lassign $argv ::stub_script ::stub_expect_file
rename exit ::stub_real_exit

array set ::stub {
    board_parts_installed __expected__
    parts_installed __expected__
    wns 0.125 whs 0.010 tns 0.0
    run_fail ""
    hwh_layout gen
    act_mhz ""
    hls_width ""
    allow_missing_modules 0
    version 2024.1
}
array set ::expect {}
source $::stub_expect_file
foreach k {part board_parts clock_mhz hp_width n_masters ps_type accel} {
    if {![info exists ::expect($k)]} { puts "STUB-ERROR expect file lacks expect($k)"; ::stub_real_exit 2 }
}
if {$::stub(board_parts_installed) eq "__expected__"} { set ::stub(board_parts_installed) $::expect(board_parts) }
if {$::stub(parts_installed) eq "__expected__"} { set ::stub(parts_installed) [list $::expect(part)] }

set ::S(project) ""
set ::S(project_dir) ""
set ::S(part) ""
set ::S(board_part) ""
set ::S(bd) ""
set ::S(bd_file) ""
set ::S(files) {}
set ::S(ip_repo_paths) {}
set ::S(catalog_updated) 0
set ::S(validated) 0
set ::S(addr_assigned) 0
set ::S(wrapper) ""
set ::S(top) ""
set ::S(runs_launched) {}
set ::S(runs_done) {}
set ::S(impl_to) ""
set ::S(opened) ""
set ::S(board_part_queries) {}
set ::S(exit) ""
set ::S(connect_count) 0
set ::CELLS {}
set ::INTF_NETS {}
set ::NETS {}
set ::ASSIGNED {}
set ::EXTERNAL {}
set ::CATALOG {
    xilinx.com:ip:zynq_ultra_ps_e:3.4 xilinx.com:ip:zynq_ultra_ps_e:3.5 xilinx.com:ip:processing_system7:5.5
    xilinx.com:ip:smartconnect:1.0 xilinx.com:ip:proc_sys_reset:5.0
}

proc stub_fail {msg} {
    puts "STUB-ERROR $msg"
    ::stub_real_exit 3
}
proc stub_log {name arglist} {
    puts "CMD $name [join $arglist { }]"
}
proc exit {{code 0}} {
    set ::S(exit) $code
    puts "STUB-EXIT $code"
    ::stub_real_exit $code
}

# Parse arglist against spec (dict option -> 0 flag / 1 takes a value); returns [list opts positional].
proc stub_parse {cmd spec arglist} {
    set opts [dict create]
    set pos {}
    for {set i 0} {$i < [llength $arglist]} {incr i} {
        set a [lindex $arglist $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a] && [llength $a] == 1} {
            if {![dict exists $spec $a]} { stub_fail "$cmd: unknown option $a (allowed: [dict keys $spec])" }
            if {[dict get $spec $a]} {
                incr i
                if {$i >= [llength $arglist]} { stub_fail "$cmd: option $a needs a value" }
                dict set opts $a [lindex $arglist $i]
            } else {
                dict set opts $a 1
            }
        } else {
            lappend pos $a
        }
    }
    return [list $opts $pos]
}
proc need_project {cmd} { if {$::S(project) eq ""} { stub_fail "$cmd before create_project" } }
proc need_bd {cmd} {
    need_project $cmd
    if {$::S(bd) eq ""} { stub_fail "$cmd before create_bd_design" }
}
proc bd_frozen {cmd} {
    if {$::S(wrapper) ne ""} { stub_fail "$cmd after make_wrapper (the block design must be final first)" }
}
proc cell_get {c key {default ""}} {
    if {![dict exists $::CELLS $c]} { stub_fail "no cell $c" }
    set d [dict get $::CELLS $c]
    if {[dict exists $d $key]} { return [dict get $d $key] }
    return $default
}
proc cell_prop {c key {default ""}} {
    set props [cell_get $c props]
    if {[dict exists $props $key]} { return [dict get $props $key] }
    return $default
}
proc strip {obj} { return [string trimleft $obj /] }

# ---------------------------------------------------------------- cell models
proc ps8_enabled {c what} {
    return [expr {[cell_prop $c CONFIG.$what 0] == 1}]
}
# interface pins: name -> {mode master|slave width bits}
proc cell_intfs {c} {
    set kind [cell_get $c model]
    set out [dict create]
    switch $kind {
        zynq_ultra_ps_e {
            foreach {gp name} {0 M_AXI_HPM0_FPD 1 M_AXI_HPM1_FPD 2 M_AXI_HPM0_LPD} {
                if {[ps8_enabled $c PSU__USE__M_AXI_GP$gp]} {
                    dict set out $name [list master [cell_prop $c CONFIG.PSU__MAXIGP${gp}__DATA_WIDTH 128] {}]
                }
            }
            for {set n 0} {$n < 4} {incr n} {
                set gp [expr {$n + 2}]
                if {[ps8_enabled $c PSU__USE__S_AXI_GP$gp]} {
                    dict set out S_AXI_HP${n}_FPD [list slave [cell_prop $c CONFIG.PSU__SAXIGP${gp}__DATA_WIDTH 128] \
                        [list HP${n}_DDR_LOW HP${n}_DDR_HIGH HP${n}_LPS_OCM HP${n}_QSPI]]
                }
            }
        }
        processing_system7 {
            dict set out DDR [list external 0 {}]
            dict set out FIXED_IO [list external 0 {}]
            foreach gp {0 1} {
                if {[cell_prop $c CONFIG.PCW_USE_M_AXI_GP$gp [expr {$gp == 0}]] == 1} {
                    dict set out M_AXI_GP$gp [list master 32 {}]
                }
            }
            for {set n 0} {$n < 4} {incr n} {
                if {[cell_prop $c CONFIG.PCW_USE_S_AXI_HP$n 0] == 1} {
                    dict set out S_AXI_HP$n [list slave [cell_prop $c CONFIG.PCW_S_AXI_HP${n}_DATA_WIDTH 64] \
                        [list HP${n}_DDR_LOWOCM]]
                }
            }
        }
        smartconnect {
            for {set i 0} {$i < [cell_prop $c CONFIG.NUM_SI 1]} {incr i} {
                dict set out [format S%02d_AXI $i] [list slave 0 {}]
            }
            for {set i 0} {$i < [cell_prop $c CONFIG.NUM_MI 1]} {incr i} {
                dict set out [format M%02d_AXI $i] [list master 0 {}]
            }
        }
        proc_sys_reset {}
        accel {
            dict for {name info} [cell_get $c intfs] { dict set out $name $info }
        }
    }
    return $out
}
# plain pins: name -> {dir kind} (kind clk / rst / irq / other); "required" pins must be connected at validation
proc cell_pins {c} {
    set kind [cell_get $c model]
    set out [dict create]
    switch $kind {
        zynq_ultra_ps_e {
            if {[cell_prop $c CONFIG.PSU__FPGA_PL0_ENABLE 1] == 1} {
                dict set out pl_clk0 {out clk 0}
                dict set out pl_resetn0 {out rst 0}
            }
            foreach {gp pin} {0 maxihpm0_fpd_aclk 1 maxihpm1_fpd_aclk 2 maxihpm0_lpd_aclk} {
                if {[ps8_enabled $c PSU__USE__M_AXI_GP$gp]} { dict set out $pin {in clk 1} }
            }
            for {set n 0} {$n < 4} {incr n} {
                if {[ps8_enabled $c PSU__USE__S_AXI_GP[expr {$n + 2}]]} { dict set out saxihp${n}_fpd_aclk {in clk 1} }
            }
            if {[ps8_enabled $c PSU__USE__IRQ0]} { dict set out pl_ps_irq0 {in irq 0} }
        }
        processing_system7 {
            if {[cell_prop $c CONFIG.PCW_EN_CLK0_PORT 1] == 1} { dict set out FCLK_CLK0 {out clk 0} }
            if {[cell_prop $c CONFIG.PCW_EN_RST0_PORT 1] == 1} { dict set out FCLK_RESET0_N {out rst 0} }
            foreach gp {0 1} {
                if {[cell_prop $c CONFIG.PCW_USE_M_AXI_GP$gp [expr {$gp == 0}]] == 1} {
                    dict set out M_AXI_GP${gp}_ACLK {in clk 1}
                }
            }
            for {set n 0} {$n < 4} {incr n} {
                if {[cell_prop $c CONFIG.PCW_USE_S_AXI_HP$n 0] == 1} { dict set out S_AXI_HP${n}_ACLK {in clk 1} }
            }
            if {[cell_prop $c CONFIG.PCW_USE_FABRIC_INTERRUPT 0] == 1 && [cell_prop $c CONFIG.PCW_IRQ_F2P_INTR 0] == 1} {
                dict set out IRQ_F2P {in irq 0}
            }
        }
        smartconnect {
            dict set out aclk {in clk 1}
            dict set out aresetn {in rst 1}
        }
        proc_sys_reset {
            dict set out slowest_sync_clk {in clk 1}
            dict set out ext_reset_in {in rst 1}
            dict set out aux_reset_in {in rst 0}
            dict set out mb_debug_sys_rst {in rst 0}
            dict set out dcm_locked {in other 0}
            dict set out mb_reset {out rst 0}
            dict set out bus_struct_reset {out rst 0}
            dict set out peripheral_reset {out rst 0}
            dict set out interconnect_aresetn {out rst 0}
            dict set out peripheral_aresetn {out rst 0}
        }
        accel {
            dict for {name info} [cell_get $c pins] { dict set out $name $info }
        }
    }
    return $out
}

# Allowed CONFIG properties per model: pattern -> allowed values ("" = any number > 0)
set ::PROPS(zynq_ultra_ps_e) {
    CONFIG.PSU__USE__M_AXI_GP[0-2] {0 1}
    CONFIG.PSU__MAXIGP[0-2]__DATA_WIDTH {32 64 128}
    CONFIG.PSU__USE__S_AXI_GP[0-6] {0 1}
    CONFIG.PSU__SAXIGP[0-6]__DATA_WIDTH {32 64 128}
    CONFIG.PSU__FPGA_PL[0-3]_ENABLE {0 1}
    CONFIG.PSU__CRL_APB__PL[0-3]_REF_CTRL__FREQMHZ {}
    CONFIG.PSU__USE__IRQ[01] {0 1}
}
set ::PROPS(processing_system7) {
    CONFIG.PCW_USE_M_AXI_GP[01] {0 1}
    CONFIG.PCW_USE_S_AXI_HP[0-3] {0 1}
    CONFIG.PCW_S_AXI_HP[0-3]_DATA_WIDTH {32 64}
    CONFIG.PCW_FPGA[0-3]_PERIPHERAL_FREQMHZ {}
    CONFIG.PCW_EN_CLK[0-3]_PORT {0 1}
    CONFIG.PCW_EN_RST[0-3]_PORT {0 1}
    CONFIG.PCW_USE_FABRIC_INTERRUPT {0 1}
    CONFIG.PCW_IRQ_F2P_INTR {0 1}
}
set ::PROPS(smartconnect) {
    CONFIG.NUM_SI {1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16}
    CONFIG.NUM_MI {1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16}
    CONFIG.NUM_CLKS {1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16}
}
set ::PROPS(proc_sys_reset) {}
set ::PROPS(accel) {}

proc check_cell_prop {c key val} {
    set model [cell_get $c model]
    foreach {pat allowed} $::PROPS($model) {
        if {[string match $pat $key]} {
            if {$allowed eq ""} {
                if {![string is double -strict $val] || $val <= 0} { stub_fail "$c: $key = '$val' is not a positive number" }
            } elseif {[lsearch -exact $allowed $val] < 0} {
                stub_fail "$c: $key = '$val' not in {$allowed}"
            }
            return
        }
    }
    stub_fail "$c ($model): unknown or unsupported property $key"
}

# Parse a Verilog module's ANSI ports; infer AXI interfaces by name (<intf>_<SIGNAL>) as IP integrator does.
proc stub_module_ports {ref} {
    foreach f $::S(files) {
        if {![file exists $f]} { continue }
        set fh [open $f r]; set text [read $fh]; close $fh
        if {[regexp "module\\s+$ref\\s*\\((.*?)\\);" $text -> header]} {
            return [list $f $text $header]
        }
    }
    return {}
}
proc stub_make_accel_module {c ref} {
    set found [stub_module_ports $ref]
    if {$found eq ""} { stub_fail "create_bd_cell -reference $ref: no added source defines module $ref" }
    lassign $found file text header
    if {[string match *.sv $file]} { stub_fail "module reference $ref is SystemVerilog ($file): UG994 allows Verilog/VHDL only" }
    # instantiated modules must be defined by added sources (elaboration of the reference)
    foreach {- sub} [regexp -all -inline {\n\s+([A-Za-z_]\w*)\s+u_\w+\s*\(} $text] {
        if {[stub_module_ports $sub] eq "" && !$::stub(allow_missing_modules)} {
            stub_fail "module reference $ref instantiates $sub, which no added source defines"
        }
    }
    set intfs [dict create]
    set pins [dict create]
    set widths [dict create]
    foreach line [split $header \n] {
        if {[regexp {^\s*(input|output)\s+wire\s+(\[(\d+):0\]\s+)?(\w+)} $line -> dir - msb name]} {
            set w [expr {$msb eq "" ? 1 : $msb + 1}]
            if {[regexp {^([sm]_axi_\w+?)_([A-Z]+)$} $name -> intf sig]} {
                dict set widths $intf $sig $w
            } else {
                set kind other
                if {$name eq "ap_clk"} { set kind clk } elseif {$name eq "ap_rst_n"} { set kind rst } \
                    elseif {$name eq "interrupt"} { set kind irq }
                dict set pins $name [list [expr {$dir eq "input" ? "in" : "out"}] $kind 1]
            }
        }
    }
    dict for {intf sigs} $widths {
        set mode [expr {[string match m_axi_* $intf] ? "master" : "slave"}]
        set w [expr {[dict exists $sigs WDATA] ? [dict get $sigs WDATA] : 0}]
        foreach s {AWADDR AWVALID AWREADY WDATA WSTRB WVALID WREADY BRESP BVALID BREADY ARADDR ARVALID ARREADY RDATA RRESP RVALID RREADY} {
            if {![dict exists $sigs $s]} { stub_fail "module $ref: interface $intf lacks $s" }
        }
        dict set intfs $intf [list $mode $w {}]
    }
    dict set ::CELLS $c [dict create model accel kind module ref $ref props {} intfs $intfs pins $pins \
        spaces_prefix "" slave_seg reg0]
}
proc stub_make_accel_ip {c vlnv} {
    set w [expr {$::stub(hls_width) ne "" ? $::stub(hls_width) : $::expect(hp_width)}]
    set intfs [dict create s_axi_control [list slave 32 {}]]
    foreach m $::expect(hls_masters) { dict set intfs $m [list master $w {}] }
    set pins [dict create ap_clk {in clk 1} ap_rst_n {in rst 1} interrupt {out irq 1}]
    dict set ::CELLS $c [dict create model accel kind ip vlnv $vlnv props {} intfs $intfs pins $pins \
        spaces_prefix Data_ slave_seg Reg]
}

# ---------------------------------------------------------------- project commands
proc version {args} {
    if {$args ne "-short"} { stub_fail "version: expected -short" }
    return $::stub(version)
}
proc set_param {args} {
    stub_log set_param $args
    if {[llength $args] != 2 || [lindex $args 0] ne "board.repoPaths"} { stub_fail "set_param: unexpected '$args'" }
}
proc get_parts {args} {
    lassign [stub_parse get_parts {-quiet 0 -filter 1} $args] o p
    if {[llength $p] != 1} { stub_fail "get_parts: expected one pattern" }
    set hits {}
    foreach part $::stub(parts_installed) { if {[string match [lindex $p 0] $part]} { lappend hits $part } }
    return $hits
}
proc create_project {args} {
    lassign [stub_parse create_project {-force 0 -part 1 -in_memory 0 -ip 0} $args] o p
    if {$::S(project) ne ""} { stub_fail "create_project twice" }
    if {[llength $p] != 2} { stub_fail "create_project: expected <name> <dir>, got '$p'" }
    if {![dict exists $o -part]} { stub_fail "create_project: no -part" }
    if {[dict get $o -part] ne $::expect(part)} { stub_fail "create_project -part [dict get $o -part], board config says $::expect(part)" }
    if {[lsearch -exact $::stub(parts_installed) [dict get $o -part]] < 0} { stub_fail "part [dict get $o -part] not installed" }
    lassign $p name dir
    set ::S(project) $name
    set ::S(project_dir) $dir
    set ::S(part) [dict get $o -part]
    file mkdir $dir
    close [open [file join $dir $name.xpr] w]
    stub_log create_project $args
    return $name
}
proc current_project {args} { need_project current_project; return $::S(project) }
proc current_fileset {args} { need_project current_fileset; return sources_1 }
proc get_board_parts {args} {
    lassign [stub_parse get_board_parts {-quiet 0 -latest_file_version 0 -latest_hw_revision 0 -filter 1} $args] o p
    if {[llength $p] != 1} { stub_fail "get_board_parts: expected one pattern, got '$p'" }
    lappend ::S(board_part_queries) [lindex $p 0]
    set hits {}
    foreach bp $::stub(board_parts_installed) { if {[string match [lindex $p 0] $bp]} { lappend hits $bp } }
    stub_log get_board_parts $args
    return $hits
}
proc set_property {args} {
    lassign [stub_parse set_property {-dict 1 -quiet 0} $args] o p
    if {[dict exists $o -dict]} {
        if {[llength $p] != 1} { stub_fail "set_property -dict: expected one object, got '$p'" }
        set pairs [dict get $o -dict]
        set obj [lindex $p 0]
    } else {
        if {[llength $p] != 3} { stub_fail "set_property: expected <name> <value> <object>, got '$p'" }
        lassign $p key val obj
        set pairs [list $key $val]
    }
    if {[llength $pairs] % 2} { stub_fail "set_property -dict: odd-length list" }
    if {$obj eq ""} { stub_fail "set_property on an empty object ($pairs)" }
    foreach {key val} $pairs { stub_set_one $key $val $obj }
    stub_log set_property $args
}
proc stub_set_one {key val obj} {
    if {$obj eq $::S(project) && $::S(project) ne ""} {
        switch $key {
            board_part {
                if {[lsearch -exact $::stub(board_parts_installed) $val] < 0} { stub_fail "board_part $val is not installed (get_board_parts would not list it)" }
                if {[lsearch -exact $::expect(board_parts) $val] < 0 && ![string match "[join [lrange [split [lindex $::expect(board_parts) 0] :] 0 2] :]:*" $val]} {
                    stub_fail "board_part $val is not one of the board config's $::expect(board_parts)"
                }
                if {$::S(bd) ne ""} { stub_fail "board_part set after create_bd_design" }
                set ::S(board_part) $val
            }
            target_language { if {[lsearch -exact {Verilog VHDL} $val] < 0} { stub_fail "target_language $val" } }
            ip_repo_paths {
                foreach r $val { if {![file isdirectory $r]} { stub_fail "ip_repo_paths: $r is not a folder" } }
                set ::S(ip_repo_paths) $val
            }
            default { stub_fail "set_property $key on the project: not modelled" }
        }
        return
    }
    if {$obj eq "sources_1"} {
        if {$key ne "top"} { stub_fail "set_property $key on sources_1: not modelled" }
        set ::S(top) $val
        return
    }
    set o [strip $obj]
    if {[dict exists $::CELLS $o]} {
        bd_frozen set_property
        check_cell_prop $o $key $val
        set d [dict get $::CELLS $o]
        dict set d props $key $val
        dict set ::CELLS $o $d
        return
    }
    if {[regexp {^([^/]+)/([^/]+)$} $o -> c pin] && [dict exists $::CELLS $c]} {
        if {$key ne "CONFIG.FREQ_HZ"} { stub_fail "set_property $key on pin $obj: not modelled" }
        if {[cell_get $c model] ne "accel" || [cell_get $c kind] ne "module"} { stub_fail "FREQ_HZ set on $obj: only module-reference pins need it" }
        if {![dict exists [cell_pins $c] $pin]} { stub_fail "no pin $obj" }
        if {![string is integer -strict $val] || $val <= 0} { stub_fail "FREQ_HZ $val is not a positive integer" }
        set d [dict get $::CELLS $c]
        dict set d freq($pin) $val
        dict set ::CELLS $c $d
        return
    }
    stub_fail "set_property $key: unknown object '$obj'"
}
proc get_property {args} {
    lassign [stub_parse get_property {-quiet 0} $args] o p
    if {[llength $p] != 2} { stub_fail "get_property: expected <name> <object>, got '$p'" }
    lassign $p key obj
    set o [strip $obj]
    if {[lsearch -exact {synth_1 impl_1} $o] >= 0} { return [stub_run_prop $o $key] }
    if {[dict exists $::CELLS $o]} {
        set model [cell_get $o model]
        if {$model eq "zynq_ultra_ps_e" && $key eq "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ"} {
            return [stub_act_mhz $o]
        }
        if {$model eq "processing_system7" && $key eq "CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"} {
            return [stub_act_mhz $o]
        }
        stub_fail "get_property $key on $o: not modelled"
    }
    if {[regexp {^([^/]+)/([^/]+)$} $o -> c pin] && [dict exists $::CELLS $c]} {
        if {$key eq "CONFIG.DATA_WIDTH" && [dict exists [cell_intfs $c] $pin]} {
            return [lindex [dict get [cell_intfs $c] $pin] 1]
        }
        if {$key eq "CONFIG.FREQ_HZ" && [dict exists [cell_pins $c] $pin]} {
            if {[lindex [dict get [cell_pins $c] $pin] 1] ne "clk"} { stub_fail "FREQ_HZ of non-clock pin $obj" }
            return [expr {int(round([stub_act_mhz $c] * 1e6))}]
        }
        stub_fail "get_property $key on $obj: not modelled"
    }
    if {[regexp {^([^/]+)/([^/]+)/(SEG_\w+)$} $o -> c sp seg]} {
        foreach a $::ASSIGNED {
            if {[dict get $a name] eq $o} {
                switch $key { OFFSET { return [dict get $a offset] } RANGE { return [dict get $a range] } }
            }
        }
        stub_fail "get_property $key on segment $obj: not modelled"
    }
    stub_fail "get_property $key: unknown object '$obj'"
}
proc stub_act_mhz {c} {
    set model [cell_get $c model]
    if {$model eq "zynq_ultra_ps_e"} {
        set req [cell_prop $c CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 100]
    } elseif {$model eq "processing_system7"} {
        set req [cell_prop $c CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ 50]
    } else {
        return [stub_act_mhz ps]
    }
    if {$::stub(act_mhz) ne ""} { return $::stub(act_mhz) }
    return $req
}

proc get_ipdefs {args} {
    lassign [stub_parse get_ipdefs {-all 0 -quiet 0 -filter 1} $args] o p
    if {[llength $p] != 1} { stub_fail "get_ipdefs: expected one pattern" }
    set cat $::CATALOG
    if {$::S(catalog_updated) && [info exists ::expect(ip_vlnv)]} {
        foreach r $::S(ip_repo_paths) {
            if {[file exists [file join $r component.xml]]} { lappend cat $::expect(ip_vlnv) }
        }
    }
    set hits {}
    foreach v $cat { if {[string match [lindex $p 0] $v]} { lappend hits $v } }
    return $hits
}
proc update_ip_catalog {args} {
    lassign [stub_parse update_ip_catalog {-rebuild 0 -quiet 0} $args] o p
    need_project update_ip_catalog
    set ::S(catalog_updated) 1
    stub_log update_ip_catalog $args
}
proc add_files {args} {
    lassign [stub_parse add_files {-norecurse 0 -fileset 1 -quiet 0} $args] o p
    need_project add_files
    set files [concat {*}$p]
    if {[llength $files] == 0} { stub_fail "add_files: no files" }
    foreach f $files {
        if {![file exists $f]} { stub_fail "add_files: $f does not exist" }
        if {[lsearch -exact $::S(files) $f] >= 0} { stub_fail "add_files: $f added twice" }
        lappend ::S(files) $f
    }
    stub_log add_files $args
}
proc update_compile_order {args} {
    lassign [stub_parse update_compile_order {-fileset 1 -quiet 0} $args] o p
    need_project update_compile_order
    stub_log update_compile_order $args
}
proc get_files {args} {
    lassign [stub_parse get_files {-quiet 0 -of_objects 1 -norecurse 0} $args] o p
    set hits {}
    foreach f [concat $::S(files) [expr {$::S(bd_file) ne "" ? [list $::S(bd_file)] : {}}]] {
        if {[string match "*[lindex $p 0]" $f]} { lappend hits $f }
    }
    if {[llength $hits] == 0 && ![dict exists $o -quiet]} { stub_fail "get_files [lindex $p 0]: no match" }
    return $hits
}

# ---------------------------------------------------------------- block design commands
proc create_bd_design {args} {
    lassign [stub_parse create_bd_design {-dir 1 -quiet 0} $args] o p
    need_project create_bd_design
    if {$::S(bd) ne ""} { stub_fail "create_bd_design twice" }
    if {[llength $p] != 1} { stub_fail "create_bd_design: expected one name" }
    set ::S(bd) [lindex $p 0]
    set dir [file join $::S(project_dir) "$::S(project).srcs" sources_1 bd $::S(bd)]
    file mkdir $dir
    set ::S(bd_file) [file join $dir "$::S(bd).bd"]
    close [open $::S(bd_file) w]
    stub_log create_bd_design $args
    return $::S(bd)
}
proc create_bd_cell {args} {
    lassign [stub_parse create_bd_cell {-type 1 -vlnv 1 -reference 1 -quiet 0} $args] o p
    need_bd create_bd_cell
    bd_frozen create_bd_cell
    if {[llength $p] != 1} { stub_fail "create_bd_cell: expected one cell name, got '$p'" }
    set c [lindex $p 0]
    if {[dict exists $::CELLS $c]} { stub_fail "create_bd_cell: cell $c exists" }
    set type [expr {[dict exists $o -type] ? [dict get $o -type] : ""}]
    if {$type eq "ip"} {
        if {![dict exists $o -vlnv]} { stub_fail "create_bd_cell -type ip without -vlnv" }
        set vlnv [dict get $o -vlnv]
        if {[llength [get_ipdefs -all $vlnv]] == 0} { stub_fail "create_bd_cell: VLNV $vlnv not in the IP catalog" }
        set name [lindex [split $vlnv :] 2]
        if {[info exists ::expect(ip_vlnv)] && $vlnv eq $::expect(ip_vlnv)} {
            stub_make_accel_ip $c $vlnv
        } elseif {[lsearch -exact {zynq_ultra_ps_e processing_system7 smartconnect proc_sys_reset} $name] >= 0} {
            if {[lsearch -exact {zynq_ultra_ps_e processing_system7} $name] >= 0 && $name ne $::expect(ps_type)} {
                stub_fail "PS IP $name on a board whose ps_type is $::expect(ps_type)"
            }
            dict set ::CELLS $c [dict create model $name kind ip vlnv $vlnv props {}]
        } else {
            stub_fail "create_bd_cell: VLNV $vlnv is not modelled"
        }
    } elseif {$type eq "module"} {
        if {![dict exists $o -reference]} { stub_fail "create_bd_cell -type module without -reference" }
        stub_make_accel_module $c [dict get $o -reference]
    } else {
        stub_fail "create_bd_cell: -type must be ip or module, got '$type'"
    }
    stub_log create_bd_cell $args
    return "/$c"
}
proc get_bd_cells {args} {
    lassign [stub_parse get_bd_cells {-quiet 0 -hierarchical 0 -filter 1} $args] o p
    need_bd get_bd_cells
    set hits {}
    foreach pat $p { foreach c [dict keys $::CELLS] { if {[string match [strip $pat] $c]} { lappend hits "/$c" } } }
    if {[llength $hits] == 0 && ![dict exists $o -quiet]} { stub_fail "get_bd_cells $p: no such cell" }
    return $hits
}
proc stub_get_pins {cmd intf arglist} {
    lassign [stub_parse $cmd {-quiet 0 -of_objects 1 -filter 1} $arglist] o p
    need_bd $cmd
    if {[llength $p] != 1} { stub_fail "$cmd: expected one pattern, got '$p'" }
    set pat [strip [lindex $p 0]]
    if {![regexp {^([^/]+)/([^/]+)$} $pat -> c pin]} { stub_fail "$cmd $pat: expected cell/pin" }
    set hits {}
    if {[dict exists $::CELLS $c]} {
        set names [dict keys [expr {$intf ? [cell_intfs $c] : [cell_pins $c]}]]
        foreach n $names { if {[string match $pin $n]} { lappend hits "/$c/$n" } }
    }
    if {[llength $hits] == 0 && ![dict exists $o -quiet]} { stub_fail "$cmd $pat: no such [expr {$intf ? {interface pin} : {pin}}]" }
    return $hits
}
proc get_bd_pins {args} { return [stub_get_pins get_bd_pins 0 $args] }
proc get_bd_intf_pins {args} { return [stub_get_pins get_bd_intf_pins 1 $args] }

proc apply_bd_automation {args} {
    lassign [stub_parse apply_bd_automation {-rule 1 -config 1 -quiet 0} $args] o p
    need_bd apply_bd_automation
    bd_frozen apply_bd_automation
    set c [strip [lindex $p 0]]
    if {[llength $p] != 1 || ![dict exists $::CELLS $c]} { stub_fail "apply_bd_automation: expected one existing cell, got '$p'" }
    set model [cell_get $c model]
    set rule [dict get $o -rule]
    if {$rule ne "xilinx.com:bd_rule:$model"} { stub_fail "apply_bd_automation: rule $rule for a $model cell" }
    set cfg [dict get $o -config]
    if {[llength $cfg] % 2} { stub_fail "apply_bd_automation -config: not a key/value list" }
    set preset [expr {[dict exists $cfg apply_board_preset] ? [dict get $cfg apply_board_preset] : 0}]
    if {$preset == 1 && $::S(board_part) eq ""} { stub_fail "apply_bd_automation apply_board_preset 1 without a board part" }
    set d [dict get $::CELLS $c]
    if {$model eq "zynq_ultra_ps_e"} {
        dict for {k v} $cfg { if {$k ne "apply_board_preset"} { stub_fail "apply_bd_automation (zynq_ultra_ps_e): unknown key $k" } }
        if {$preset == 1} {
            # board presets of the Xilinx evaluation boards enable both FPD masters (128 bit)
            dict set d props CONFIG.PSU__USE__M_AXI_GP0 1
            dict set d props CONFIG.PSU__USE__M_AXI_GP1 1
        }
    } elseif {$model eq "processing_system7"} {
        foreach k [dict keys $cfg] {
            if {[lsearch -exact {make_external apply_board_preset Master Slave} $k] < 0} { stub_fail "apply_bd_automation (processing_system7): unknown key $k" }
        }
        if {![dict exists $cfg make_external] || [dict get $cfg make_external] ne "FIXED_IO, DDR"} {
            stub_fail "processing_system7 automation must make FIXED_IO and DDR external"
        }
        lappend ::EXTERNAL "$c/DDR" "$c/FIXED_IO"
    } else {
        stub_fail "apply_bd_automation on $model: not modelled"
    }
    dict set ::CELLS $c $d
    stub_log apply_bd_automation $args
}
proc connect_bd_intf_net {args} {
    lassign [stub_parse connect_bd_intf_net {-intf_net 1 -boundary_type 1 -quiet 0} $args] o p
    need_bd connect_bd_intf_net
    bd_frozen connect_bd_intf_net
    if {[llength $p] != 2} { stub_fail "connect_bd_intf_net: expected two interface pins, got '$p'" }
    lassign $p a b
    set ends {}
    foreach x [list $a $b] {
        if {[llength $x] != 1} { stub_fail "connect_bd_intf_net: '$x' is not one object" }
        set x [strip $x]
        if {![regexp {^([^/]+)/([^/]+)$} $x -> c pin] || ![dict exists [cell_intfs $c] $pin]} { stub_fail "connect_bd_intf_net: no interface pin $x" }
        foreach n $::INTF_NETS { if {[lsearch -exact $n $x] >= 0} { stub_fail "connect_bd_intf_net: $x already connected" } }
        lappend ends [list $x [lindex [dict get [cell_intfs $c] $pin] 0]]
    }
    if {[lindex $ends 0 1] eq [lindex $ends 1 1]} { stub_fail "connect_bd_intf_net: $a and $b are both [lindex $ends 0 1]s" }
    # store master first
    if {[lindex $ends 0 1] eq "master"} {
        lappend ::INTF_NETS [list [lindex $ends 0 0] [lindex $ends 1 0]]
    } else {
        lappend ::INTF_NETS [list [lindex $ends 1 0] [lindex $ends 0 0]]
    }
    stub_log connect_bd_intf_net $args
}
proc connect_bd_net {args} {
    lassign [stub_parse connect_bd_net {-net 1 -quiet 0} $args] o p
    need_bd connect_bd_net
    bd_frozen connect_bd_net
    set pins {}
    foreach x $p {
        if {[llength $x] != 1} { stub_fail "connect_bd_net: '$x' is not one object" }
        lappend pins [strip $x]
    }
    if {[llength $pins] < 2} { stub_fail "connect_bd_net: needs at least two pins, got '$p'" }
    set drivers {}
    set kinds {}
    foreach x $pins {
        if {![regexp {^([^/]+)/([^/]+)$} $x -> c pin] || ![dict exists [cell_pins $c] $pin]} { stub_fail "connect_bd_net: no pin $x" }
        foreach n $::NETS { if {[lsearch -exact $n $x] >= 0} { stub_fail "connect_bd_net: $x already connected" } }
        lassign [dict get [cell_pins $c] $pin] dir kind
        if {$dir eq "out"} { lappend drivers $x }
        lappend kinds $kind
    }
    if {[llength $drivers] != 1} { stub_fail "connect_bd_net: need exactly one driver among $pins, found '$drivers'" }
    if {[lsearch -exact $kinds clk] >= 0 && [llength [lsearch -all -exact $kinds clk]] != [llength $kinds]} {
        stub_fail "connect_bd_net: clock net mixes non-clock pins ($pins)"
    }
    lappend ::NETS [concat $drivers [lsearch -all -inline -exact -not $pins [lindex $drivers 0]]]
    stub_log connect_bd_net $args
}
proc stub_net_of {pin} {
    foreach n $::NETS { if {[lsearch -exact $n $pin] >= 0} { return $n } }
    return {}
}
proc stub_intf_peer {pin} {
    foreach n $::INTF_NETS {
        if {[lindex $n 0] eq $pin} { return [lindex $n 1] }
        if {[lindex $n 1] eq $pin} { return [lindex $n 0] }
    }
    return ""
}
# Slave interface pins with address segments reachable from a master interface pin (through SmartConnects).
proc stub_reach {master {depth 0}} {
    if {$depth > 8} { return {} }
    set peer [stub_intf_peer $master]
    if {$peer eq ""} { return {} }
    regexp {^([^/]+)/([^/]+)$} $peer -> c pin
    if {[cell_get $c model] eq "smartconnect"} {
        set out {}
        dict for {name info} [cell_intfs $c] {
            if {[lindex $info 0] eq "master"} { set out [concat $out [stub_reach "$c/$name" [expr {$depth + 1}]]] }
        }
        return $out
    }
    return [list $peer]
}
proc stub_slave_segs {slave} {
    regexp {^([^/]+)/([^/]+)$} $slave -> c pin
    if {[cell_get $c model] eq "accel"} { return [list [cell_get $c slave_seg]] }
    return [lindex [dict get [cell_intfs $c] $pin] 2]
}
# address spaces: "ps/Data" for the PS, acc/<prefix><intf> for each accelerator master
proc stub_spaces {} {
    set out {}
    dict for {c d} $::CELLS {
        set model [dict get $d model]
        if {$model eq "zynq_ultra_ps_e" || $model eq "processing_system7"} {
            set m [expr {$model eq "zynq_ultra_ps_e" ? "M_AXI_HPM0_FPD" : "M_AXI_GP0"}]
            lappend out [list "$c/Data" "$c/$m"]
        } elseif {$model eq "accel"} {
            dict for {name info} [cell_intfs $c] {
                if {[lindex $info 0] eq "master"} { lappend out [list "$c/[dict get $d spaces_prefix]$name" "$c/$name"] }
            }
        }
    }
    return $out
}
proc get_bd_addr_spaces {args} {
    lassign [stub_parse get_bd_addr_spaces {-quiet 0 -of_objects 1} $args] o p
    need_bd get_bd_addr_spaces
    set hits {}
    foreach sp [stub_spaces] {
        set name [lindex $sp 0]
        if {[dict exists $o -of_objects]} {
            foreach obj [dict get $o -of_objects] {
                if {[string match "[strip $obj]/*" $name]} { lappend hits "/$name" }
            }
        } elseif {[string match [strip [lindex $p 0]] $name]} {
            lappend hits "/$name"
        }
    }
    if {[llength $hits] == 0 && ![dict exists $o -quiet]} { stub_fail "get_bd_addr_spaces $args: no match" }
    return $hits
}
proc get_bd_addr_segs {args} {
    lassign [stub_parse get_bd_addr_segs {-quiet 0 -of_objects 1 -excluded 0} $args] o p
    need_bd get_bd_addr_segs
    set hits {}
    if {[dict exists $o -of_objects]} {
        foreach sp [dict get $o -of_objects] {
            foreach a $::ASSIGNED { if {[dict get $a space] eq [strip $sp]} { lappend hits "/[dict get $a name]" } }
        }
        return $hits
    }
    set pat [strip [lindex $p 0]]
    dict for {c d} $::CELLS {
        dict for {name info} [cell_intfs $c] {
            if {[lindex $info 0] ne "slave"} { continue }
            foreach s [stub_slave_segs "$c/$name"] {
                if {[string match $pat "$c/$name/$s"]} { lappend hits "/$c/$name/$s" }
            }
        }
    }
    if {[llength $hits] == 0 && ![dict exists $o -quiet]} { stub_fail "get_bd_addr_segs $pat: no match" }
    return $hits
}
proc stub_assign {space slave seg offset range} {
    regexp {^([^/]+)/} $slave -> c
    set name "$space/SEG_${c}_$seg"
    foreach a $::ASSIGNED { if {[dict get $a name] eq $name} { return } }
    lappend ::ASSIGNED [dict create name $name space $space slave "$slave/$seg" offset $offset range $range]
}
proc assign_bd_address {args} {
    lassign [stub_parse assign_bd_address {-offset 1 -range 1 -target_address_space 1 -force 0 -quiet 0 -export_to_file 1} $args] o p
    need_bd assign_bd_address
    bd_frozen assign_bd_address
    if {[llength $p] == 0} {
        # auto-assign: every space gets every reachable slave segment
        foreach sp [stub_spaces] {
            lassign $sp space master
            foreach slave [stub_reach $master] {
                foreach seg [stub_slave_segs $slave] {
                    set off [expr {[string match *DDR_HIGH $seg] ? "0x0000000800000000" : [string match *DDR_LOW* $seg] ? "0x0000000000000000" : "0x00000000FF000000"}]
                    stub_assign $space $slave $seg $off 0x80000000
                }
            }
        }
        set ::S(addr_assigned) 1
    } else {
        foreach k {-offset -range -target_address_space} {
            if {![dict exists $o $k]} { stub_fail "assign_bd_address of a segment without $k" }
        }
        set space [strip [dict get $o -target_address_space]]
        set range [dict get $o -range]
        if {![string is wideinteger -strict $range] || $range < 4096 || ($range & ($range - 1))} { stub_fail "assign_bd_address -range $range: expected a power of two >= 4K" }
        set offset [dict get $o -offset]
        if {![string is wideinteger -strict $offset] || $offset % $range} { stub_fail "assign_bd_address -offset $offset: not aligned to the range" }
        set master ""
        foreach sp [stub_spaces] { if {[lindex $sp 0] eq $space} { set master [lindex $sp 1] } }
        if {$master eq ""} { stub_fail "assign_bd_address: no address space $space" }
        set model [cell_get [lindex [split $space /] 0] model]
        set win [expr {$model eq "zynq_ultra_ps_e" ? {0xA0000000 0xB0000000} : {0x40000000 0x80000000}}]
        if {$offset < [lindex $win 0] || $offset + $range > [lindex $win 1]} { stub_fail "assign_bd_address: $offset+$range outside the $model master window $win" }
        set segs [concat {*}$p]
        if {[llength $segs] == 0} { stub_fail "assign_bd_address: no segment" }
        set reach [stub_reach $master]
        foreach s $segs {
            set s [strip $s]
            regexp {^(.*)/([^/]+)$} $s -> slave seg
            if {[lsearch -exact $reach $slave] < 0} { stub_fail "assign_bd_address: $s is not reachable from $space" }
            stub_assign $space $slave $seg $offset $range
        }
    }
    stub_log assign_bd_address $args
}

proc validate_bd_design {args} {
    lassign [stub_parse validate_bd_design {-force 0 -quiet 0} $args] o p
    need_bd validate_bd_design
    bd_frozen validate_bd_design
    set ps ""
    dict for {c d} $::CELLS {
        set model [dict get $d model]
        if {$model eq "zynq_ultra_ps_e" || $model eq "processing_system7"} { set ps $c }
        dict for {name info} [cell_intfs $c] {
            set pin "$c/$name"
            if {[lindex $info 0] eq "external"} {
                if {[lsearch -exact $::EXTERNAL $pin] < 0} { stub_fail "validate: $pin not made external" }
            } elseif {[stub_intf_peer $pin] eq ""} {
                stub_fail "validate: interface $pin is enabled but unconnected"
            }
        }
        dict for {name info} [cell_pins $c] {
            if {[lindex $info 2] && [stub_net_of "$c/$name"] eq ""} { stub_fail "validate: pin $c/$name unconnected" }
        }
    }
    if {$ps eq ""} { stub_fail "validate: no processing system" }
    set accs {}
    dict for {c d} $::CELLS { if {[dict get $d model] eq "accel"} { lappend accs $c } }
    if {[llength $accs] != 1} { stub_fail "validate: expected one accelerator cell, found '$accs'" }
    set acc [lindex $accs 0]
    # one clock: every clock input on the PS PL clock net
    set plclk [expr {[cell_get $ps model] eq "zynq_ultra_ps_e" ? "$ps/pl_clk0" : "$ps/FCLK_CLK0"}]
    set clknet [stub_net_of $plclk]
    dict for {c d} $::CELLS {
        dict for {name info} [cell_pins $c] {
            if {[lindex $info 1] eq "clk" && [lindex $info 0] eq "in" && [lsearch -exact $clknet "$c/$name"] < 0} {
                stub_fail "validate: clock pin $c/$name is not driven by $plclk"
            }
        }
    }
    set mhz [stub_act_mhz $ps]
    if {abs([cell_prop $ps [expr {[cell_get $ps model] eq "zynq_ultra_ps_e" ? "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ" : "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"}] 0] - $::expect(clock_mhz)) > 1e-6} {
        stub_fail "validate: PL clock request is not the AcceleratorConfig clock $::expect(clock_mhz) MHz"
    }
    if {[cell_get $acc kind] eq "module"} {
        set d [dict get $::CELLS $acc]
        if {![dict exists $d freq(ap_clk)] || [dict get $d freq(ap_clk)] != int(round($mhz * 1e6))} {
            stub_fail "validate (BD 41-237): FREQ_HZ of $acc/ap_clk does not match $plclk ($mhz MHz)"
        }
    }
    # resets: accelerator reset from proc_sys_reset peripheral_aresetn, driven by the PS reset
    set rnet [stub_net_of "$acc/ap_rst_n"]
    if {![string match */peripheral_aresetn [lindex $rnet 0]]} { stub_fail "validate: $acc/ap_rst_n is not driven by a proc_sys_reset peripheral_aresetn ($rnet)" }
    set irq [stub_net_of "$acc/interrupt"]
    if {[lsearch -glob $irq "$ps/*"] < 0} { stub_fail "validate: $acc/interrupt does not reach the PS" }
    # HP ports: count and widths
    set hp 0
    dict for {name info} [cell_intfs $ps] {
        if {[string match S_AXI_HP* $name]} {
            incr hp
            if {[lindex $info 1] != $::expect(hp_width)} { stub_fail "validate: $ps/$name is [lindex $info 1] bits, board config says $::expect(hp_width)" }
        }
    }
    if {$hp != $::expect(n_masters)} { stub_fail "validate: $hp HP ports enabled, the accelerator has $::expect(n_masters) masters" }
    # every accelerator master reaches exactly one HP port; the control interface is reached from the PS
    set used {}
    dict for {name info} [cell_intfs $acc] {
        if {[lindex $info 0] eq "master"} {
            if {[lindex $info 1] != $::expect(hp_width)} { stub_fail "validate: $acc/$name is [lindex $info 1] bits, board config says $::expect(hp_width)" }
            set r [stub_reach "$acc/$name"]
            if {[llength $r] != 1 || ![string match "$ps/S_AXI_HP*" [lindex $r 0]]} { stub_fail "validate: $acc/$name reaches '$r', expected one PS HP port" }
            if {[lsearch -exact $used $r] >= 0} { stub_fail "validate: two masters share $r" }
            lappend used $r
        }
    }
    if {!$::S(addr_assigned)} { stub_fail "validate: addresses not assigned" }
    foreach sp [stub_spaces] {
        lassign $sp space master
        set segs {}
        foreach a $::ASSIGNED { if {[dict get $a space] eq $space} { lappend segs [dict get $a name] } }
        if {[string match "$acc/*" $space]} {
            if {[lsearch -glob $segs *DDR_LOW*] < 0} { stub_fail "validate: $space has no DDR segment ($segs)" }
        } elseif {[lsearch -glob $segs "*SEG_${acc}_*"] < 0} {
            stub_fail "validate: the PS cannot address $acc (segments: $segs)"
        }
    }
    set ::S(validated) 1
    stub_log validate_bd_design $args
}
proc save_bd_design {args} {
    need_bd save_bd_design
    if {!$::S(validated)} { stub_fail "save_bd_design before validate_bd_design" }
    stub_log save_bd_design $args
}
proc make_wrapper {args} {
    lassign [stub_parse make_wrapper {-files 1 -top 0 -fileset 1 -import 0} $args] o p
    need_bd make_wrapper
    if {!$::S(validated)} { stub_fail "make_wrapper before validate_bd_design" }
    if {![dict exists $o -files] || [dict get $o -files] ne $::S(bd_file)} { stub_fail "make_wrapper -files must be the .bd file" }
    if {![dict exists $o -top]} { stub_fail "make_wrapper without -top" }
    set dir [file join $::S(project_dir) "$::S(project).gen" sources_1 bd $::S(bd) hdl]
    file mkdir $dir
    set ::S(wrapper) [file join $dir "$::S(bd)_wrapper.v"]
    close [open $::S(wrapper) w]
    # IP integrator writes the hardware handoff with the output products
    set hsub [expr {$::stub(hwh_layout) eq "srcs" ? "srcs" : "gen"}]
    if {$::stub(hwh_layout) ne "none"} {
        set hdir [file join $::S(project_dir) "$::S(project).$hsub" sources_1 bd $::S(bd) hw_handoff]
        file mkdir $hdir
        set fh [open [file join $hdir "$::S(bd).hwh"] w]; puts $fh "<hwh design=\"$::S(bd)\"/>"; close $fh
    }
    stub_log make_wrapper $args
    return $::S(wrapper)
}

# ---------------------------------------------------------------- runs
proc get_runs {args} {
    lassign [stub_parse get_runs {-quiet 0} $args] o p
    need_project get_runs
    set r [lindex $p 0]
    if {[lsearch -exact {synth_1 impl_1} $r] < 0} { stub_fail "get_runs $r: unknown run" }
    return $r
}
proc launch_runs {args} {
    lassign [stub_parse launch_runs {-jobs 1 -to_step 1 -next_step 0 -quiet 0} $args] o p
    need_project launch_runs
    if {$::S(wrapper) eq "" || [lsearch -exact $::S(files) $::S(wrapper)] < 0} { stub_fail "launch_runs before the wrapper was made and added" }
    if {$::S(top) ne "$::S(bd)_wrapper"} { stub_fail "launch_runs: top is '$::S(top)', expected $::S(bd)_wrapper" }
    if {![dict exists $o -jobs] || ![string is integer -strict [dict get $o -jobs]] || [dict get $o -jobs] < 1} { stub_fail "launch_runs: -jobs must be a positive integer" }
    set run [lindex $p 0]
    if {$run eq "impl_1"} {
        if {[lsearch -exact $::S(runs_done) synth_1] < 0} { stub_fail "launch_runs impl_1 before synth_1 completed" }
        set step [expr {[dict exists $o -to_step] ? [dict get $o -to_step] : "route_design"}]
        if {[lsearch -exact {opt_design place_design route_design write_bitstream} $step] < 0} { stub_fail "launch_runs -to_step $step" }
        set ::S(impl_to) $step
    } elseif {$run eq "synth_1"} {
        if {[dict exists $o -to_step]} { stub_fail "launch_runs synth_1 -to_step: not used" }
    } else {
        stub_fail "launch_runs: unknown run '$run'"
    }
    lappend ::S(runs_launched) $run
    stub_log launch_runs $args
}
proc wait_on_run {args} {
    lassign [stub_parse wait_on_run {-timeout 1 -quiet 0} $args] o p
    set run [lindex $p 0]
    if {[lsearch -exact $::S(runs_launched) $run] < 0} { stub_fail "wait_on_run $run before launch_runs" }
    if {$::stub(run_fail) ne $run} {
        lappend ::S(runs_done) $run
        set dir [file join $::S(project_dir) "$::S(project).runs" $run]
        file mkdir $dir
        if {$run eq "impl_1" && $::S(impl_to) eq "write_bitstream"} {
            close [open [file join $dir "$::S(bd)_wrapper.bit" ] w]
        }
    }
    stub_log wait_on_run $args
}
proc stub_run_prop {run key} {
    if {[lsearch -exact $::S(runs_launched) $run] < 0} { stub_fail "get_property $key of $run before launch_runs" }
    set ok [expr {[lsearch -exact $::S(runs_done) $run] >= 0}]
    switch $key {
        PROGRESS { return [expr {$ok ? "100%" : "40%"}] }
        STATUS {
            if {!$ok} { return "[expr {$run eq {synth_1} ? {synth_design} : {place_design}}] ERROR" }
            return [expr {$run eq "synth_1" ? "synth_design Complete!" : "$::S(impl_to) Complete!"}]
        }
        DIRECTORY { return [file join $::S(project_dir) "$::S(project).runs" $run] }
        STATS.WNS { return $::stub(wns) }
        STATS.WHS { return $::stub(whs) }
        STATS.TNS { return $::stub(tns) }
    }
    stub_fail "get_property $key of a run: not modelled"
}
proc open_run {args} {
    set run [lindex $args 0]
    if {[lsearch -exact $::S(runs_done) $run] < 0} { stub_fail "open_run $run before it completed" }
    set ::S(opened) $run
    stub_log open_run $args
}
proc stub_report {cmd spec arglist} {
    lassign [stub_parse $cmd $spec $arglist] o p
    if {$::S(opened) ne "impl_1"} { stub_fail "$cmd before open_run impl_1" }
    if {![dict exists $o -file]} { stub_fail "$cmd without -file" }
    set fh [open [dict get $o -file] w]; puts $fh "stub $cmd"; close $fh
    stub_log $cmd $arglist
}
proc report_timing_summary {args} { stub_report report_timing_summary {-max_paths 1 -file 1 -warn_on_violation 0 -report_unconstrained 0} $args }
proc report_utilization {args} { stub_report report_utilization {-file 1 -hierarchical 0} $args }
proc write_hw_platform {args} {
    lassign [stub_parse write_hw_platform {-fixed 0 -include_bit 0 -force 0 -file 1} $args] o p
    if {$::S(impl_to) ne "write_bitstream" || [lsearch -exact $::S(runs_done) impl_1] < 0} { stub_fail "write_hw_platform -include_bit before the bitstream" }
    set fh [open [dict get $o -file] w]; puts $fh "stub xsa"; close $fh
    stub_log write_hw_platform $args
}

# ---------------------------------------------------------------- run the script
cd [file dirname [file normalize $::stub_script]]
if {[catch {source $::stub_script} err opts]} {
    puts "STUB-ERROR script error: $err"
    puts stderr [dict get $opts -errorinfo]
    ::stub_real_exit 3
}
puts "STUB-OK board_part=$::S(board_part) validated=$::S(validated) runs=$::S(runs_done)"
::stub_real_exit 0
