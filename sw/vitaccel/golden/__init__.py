"""Bit-exact integer operations (contract 1). docs/numerics.md states each rule.

fixedpoint  rounding, saturation, requantization multipliers and every width constant (read by HLS/RTL gen)
ops         GEMM (int32 bound check), requantization, residual add, GELU table, LayerNorm, attention core,
            patch embedding, heads; integer-only params dataclasses
softmax     single-pass online base-2 softmax (uint8 / uint16 outputs), its tables and the scalar statement
moe         task gate, top-k (lower index wins), per-expert token queues, combine and scatter-add
measure     error figures of the above against float64 (python -m vitaccel.golden.measure)
baselines   published integer methods for comparison (I-ViT, I-BERT, hls4ml)
"""
