# vitis_hls_stubs.tcl: run a generated run_hls.tcl in plain tclsh with stub Vitis HLS commands.
#
#   tclsh vitis_hls_stubs.tcl <run_hls.tcl> <expected part> <expected top> <expected clock period ns>
#
# Each stub validates its arguments the way Vitis HLS documents them (UG1399 command reference: known options,
# required values, option values from the allowed sets) and the project's expectations (part string, top name,
# clock period, every added file exists, commands in a legal order). Every accepted command is printed as one
# line "CMD <name> <args>"; the first violation prints "STUB-ERROR <message>" and exits with status 1.
# Written for vitaccel (no vendor code); the checker is tested by tests/test_hls_project.py with bad scripts.

if {[llength $argv] != 4} {
    puts stderr "usage: tclsh vitis_hls_stubs.tcl <run_hls.tcl> <part> <top> <period_ns>"
    exit 2
}
lassign $argv ::stub_script ::want_part ::want_top ::want_period

set ::state(project) ""
set ::state(top) ""
set ::state(solution) ""
set ::state(part) ""
set ::state(clock) ""
set ::state(syn_files) 0
set ::state(synthesized) 0
set ::state(exited) 0

proc stub_fail {msg} {
    puts "STUB-ERROR $msg"
    ::stub_real_exit 1
}

proc stub_log {name args} {
    puts "CMD $name [join $args { }]"
}

# Parse "args" against a spec: dict option -> 0 (flag) / 1 (takes a value). Returns [list opts positional].
proc stub_parse {cmd spec arglist} {
    set opts [dict create]
    set pos {}
    for {set i 0} {$i < [llength $arglist]} {incr i} {
        set a [lindex $arglist $i]
        if {[string index $a 0] eq "-" && ![string is double -strict $a]} {
            set key $a
            set val ""
            if {[string first "=" $a] > 0} {
                set key [string range $a 0 [expr {[string first "=" $a] - 1}]]
                set val [string range $a [expr {[string first "=" $a] + 1}] end]
                if {![dict exists $spec $key]} { stub_fail "$cmd: unknown option $key" }
            } elseif {![dict exists $spec $key]} {
                stub_fail "$cmd: unknown option $a (allowed: [dict keys $spec])"
            } elseif {[dict get $spec $key]} {
                incr i
                if {$i >= [llength $arglist]} { stub_fail "$cmd: option $key needs a value" }
                set val [lindex $arglist $i]
            } else {
                set val 1
            }
            dict set opts $key $val
        } else {
            lappend pos $a
        }
    }
    return [list $opts $pos]
}

proc need_project {cmd} {
    if {$::state(project) eq ""} { stub_fail "$cmd before open_project" }
}
proc need_solution {cmd} {
    need_project $cmd
    if {$::state(solution) eq ""} { stub_fail "$cmd before open_solution" }
    if {$::state(part) eq ""} { stub_fail "$cmd before set_part" }
    if {$::state(clock) eq ""} { stub_fail "$cmd before create_clock" }
}

proc open_project {args} {
    lassign [stub_parse open_project {-reset 0 -upgrade 0} $args] o p
    if {[llength $p] != 1} { stub_fail "open_project: expected one project name, got '$p'" }
    set ::state(project) [lindex $p 0]
    stub_log open_project {*}$args
}

proc set_top {args} {
    need_project set_top
    if {[llength $args] != 1} { stub_fail "set_top: expected one function name, got '$args'" }
    if {[lindex $args 0] ne $::want_top} { stub_fail "set_top: top '[lindex $args 0]', expected '$::want_top'" }
    set ::state(top) [lindex $args 0]
    stub_log set_top {*}$args
}

proc add_files {args} {
    need_project add_files
    lassign [stub_parse add_files {-tb 0 -cflags 1 -csimflags 1 -blackbox 1} $args] o p
    if {[llength $p] < 1} { stub_fail "add_files: no file given" }
    foreach f $p {
        if {![file exists $f]} { stub_fail "add_files: '$f' does not exist" }
        if {![dict exists $o -tb] && ![file isfile $f]} { stub_fail "add_files: design source '$f' is not a file" }
    }
    if {[dict exists $o -cflags]} {
        foreach tok [dict get $o -cflags] {
            if {[string match -I* $tok]} {
                set d [string range $tok 2 end]
                if {![file isdirectory $d]} { stub_fail "add_files: include folder '$d' does not exist" }
            }
        }
    }
    if {![dict exists $o -tb]} { incr ::state(syn_files) }
    stub_log add_files {*}$args
}

proc open_solution {args} {
    need_project open_solution
    lassign [stub_parse open_solution {-reset 0 -flow_target 1} $args] o p
    if {[llength $p] != 1} { stub_fail "open_solution: expected one solution name, got '$p'" }
    if {[dict exists $o -flow_target] && [dict get $o -flow_target] ni {vivado vitis}} {
        stub_fail "open_solution: -flow_target '[dict get $o -flow_target]', expected vivado or vitis"
    }
    if {$::state(top) eq ""} { stub_fail "open_solution before set_top" }
    if {$::state(syn_files) == 0} { stub_fail "open_solution before any design file was added" }
    set ::state(solution) [lindex $p 0]
    stub_log open_solution {*}$args
}

proc set_part {args} {
    need_project set_part
    if {$::state(solution) eq ""} { stub_fail "set_part before open_solution" }
    if {[llength $args] != 1} { stub_fail "set_part: expected one part, got '$args'" }
    set part [lindex $args 0]
    if {$part ne $::want_part} { stub_fail "set_part: '$part', expected the board config's part '$::want_part'" }
    set ::state(part) $part
    stub_log set_part {*}$args
}

proc create_clock {args} {
    if {$::state(solution) eq ""} { stub_fail "create_clock before open_solution" }
    lassign [stub_parse create_clock {-period 1 -name 1} $args] o p
    if {[llength $p] != 0} { stub_fail "create_clock: unexpected arguments '$p'" }
    if {![dict exists $o -period]} { stub_fail "create_clock: -period missing" }
    set per [dict get $o -period]
    if {![string is double -strict $per] || $per <= 0} { stub_fail "create_clock: -period '$per' is not a positive number" }
    if {abs($per - $::want_period) > 1e-9} { stub_fail "create_clock: -period $per, expected $::want_period" }
    set ::state(clock) $per
    stub_log create_clock {*}$args
}

proc config_interface {args} {
    need_solution config_interface
    lassign [stub_parse config_interface {-m_axi_addr64 1 -m_axi_alignment_byte_size 1 -m_axi_max_widen_bitwidth 1 -m_axi_latency 1 -m_axi_offset 1 -default_slave_interface 1} $args] o p
    if {[llength $p] != 0} { stub_fail "config_interface: unexpected arguments '$p'" }
    stub_log config_interface {*}$args
}

proc config_export {args} {
    need_solution config_export
    lassign [stub_parse config_export {-format 1 -vendor 1 -library 1 -ipname 1 -version 1 -description 1 -display_name 1 -rtl 1 -output 1} $args] o p
    if {[llength $p] != 0} { stub_fail "config_export: unexpected arguments '$p'" }
    if {[dict exists $o -format] && [dict get $o -format] ni {ip_catalog xo syn_dcp sysgen}} {
        stub_fail "config_export: -format '[dict get $o -format]'"
    }
    if {[dict exists $o -version] && ![regexp {^\d+\.\d+(\.\d+)?$} [dict get $o -version]]} {
        stub_fail "config_export: -version must look like 1.0, got '[dict get $o -version]'"
    }
    stub_log config_export {*}$args
}

proc csim_design {args} {
    need_solution csim_design
    lassign [stub_parse csim_design {-argv 1 -clean 0 -O 0 -ldflags 1 -mflags 1 -setup 0 -profile 0} $args] o p
    if {[llength $p] != 0} { stub_fail "csim_design: unexpected arguments '$p'" }
    if {[dict exists $o -argv]} {
        foreach a [dict get $o -argv] {
            if {![file exists $a]} { stub_fail "csim_design: -argv names '$a', which does not exist" }
        }
    }
    stub_log csim_design {*}$args
}

proc csynth_design {args} {
    need_solution csynth_design
    if {[llength $args] != 0} { stub_fail "csynth_design: unexpected arguments '$args'" }
    set ::state(synthesized) 1
    stub_log csynth_design
}

proc cosim_design {args} {
    need_solution cosim_design
    if {!$::state(synthesized)} { stub_fail "cosim_design before csynth_design" }
    lassign [stub_parse cosim_design {-rtl 1 -tool 1 -argv 1 -trace_level 1 -wave_debug 0 -O 0 -ldflags 1 -setup 0 -enable_dataflow_profiling 0} $args] o p
    if {[llength $p] != 0} { stub_fail "cosim_design: unexpected arguments '$p'" }
    if {[dict exists $o -rtl] && [dict get $o -rtl] ni {verilog vhdl}} { stub_fail "cosim_design: -rtl '[dict get $o -rtl]'" }
    if {[dict exists $o -argv]} {
        foreach a [dict get $o -argv] {
            if {![file exists $a]} { stub_fail "cosim_design: -argv names '$a', which does not exist" }
        }
    }
    stub_log cosim_design {*}$args
}

proc export_design {args} {
    need_solution export_design
    if {!$::state(synthesized)} { stub_fail "export_design before csynth_design" }
    lassign [stub_parse export_design {-format 1 -rtl 1 -flow 1 -vendor 1 -library 1 -version 1 -ipname 1 -description 1 -display_name 1 -output 1} $args] o p
    if {[llength $p] != 0} { stub_fail "export_design: unexpected arguments '$p'" }
    if {![dict exists $o -format] || [dict get $o -format] ni {ip_catalog xo syn_dcp sysgen}} {
        stub_fail "export_design: -format missing or not one of ip_catalog xo syn_dcp sysgen"
    }
    stub_log export_design {*}$args
}

rename exit ::stub_real_exit
proc exit {args} {
    set ::state(exited) 1
    stub_log exit {*}$args
    return -code return
}

if {[catch {uplevel #0 [list source $::stub_script]} err]} {
    if {!$::state(exited)} {
        puts "STUB-ERROR script error: $err"
        ::stub_real_exit 1
    }
}
if {!$::state(exited)} { stub_fail "script ended without exit" }
puts "STUB-OK project=$::state(project) top=$::state(top) part=$::state(part) clock=$::state(clock)"
::stub_real_exit 0
