"""vitaccel: quantized ViT / multi-task MoE ViT accelerators for edge FPGAs.

Package map (one concern each; see docs/DEVELOPING.md):
  boards      board configs (contract 3) and AcceleratorConfig derivation
  golden      bit-exact integer operations (contract 1) and published baselines
  models      PyTorch float reference models, named configs, timm loader
  data        digits and procedural multi-task scenes, sample photo
  quant       post-training quantizer, QuantizedModel (+ golden execution), save/load
  train       small training recipes for the example models
  isa         instruction set, memory image and register map (contract 2)
  compiler    QuantizedModel -> Program + memory image
  sim         ISA simulator (bit-exact reference device)
  perf        performance / roofline model
  hlsgen      Vitis HLS project generator (hls/ templates)
  rtlgen      RTL parameter / table generation for hw/rtl
  runtime     one driver over devices isa / csim / rtlsim / pynq
  distributed ED-ViT style class-wise splitting, placement, serving
  bench       benchmarks (JSON on stdout)
  cli         the `vitaccel` entry point
"""

__version__ = "0.1.0"
