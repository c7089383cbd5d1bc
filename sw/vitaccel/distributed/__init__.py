"""Distributed inference: ED-ViT style class-wise split models served one sub-model per board.

Submodules (imported explicitly; this package imports nothing at load time so a board needs only what it uses):
  backend   the served-model interface (TensorSpec, ServedModel), loader registry, the numpy random-projection model
  protocol  Open Inference Protocol (KServe v2) service stubs, datatype tables, tensor encode/decode
  serving   the board server: gRPC GRPCInferenceService + grpc.health.v1, TLS/mTLS, bearer token, size limits
  fusion    fusion functions over per-board features (concatenation, MLP from .npz)
  cluster   cluster.yaml, the fan-out client with deadlines and health tracking, latency measurement
  local     start N board servers as local processes on 127.0.0.1 (tests, benchmarks)
  cli       `vitaccel serve` and `vitaccel infer`
"""
