"""Open Inference Protocol (KServe v2 gRPC, `inference.GRPCInferenceService`) plumbing.

The service and message definitions are NOT retyped here: they are the generated modules that `tritonclient`
ships (`tritonclient.grpc.service_pb2` / `service_pb2_grpc`, package `inference`, the same .proto KServe
publishes). This module adds what both the server and the cluster client need on top:

- the v2 datatype names and their numpy equivalents (the wire is little-endian, row-major);
- decoding a request input tensor from `raw_input_contents` or the typed `contents` fields, with size checks
  done BEFORE any allocation;
- encoding an output tensor as `raw_output_contents`;
- the bearer-token metadata convention (`authorization: Bearer <token>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

try:  # the generated v2 stubs; importing them needs grpcio and protobuf
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc as pb_grpc
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "vitaccel.distributed needs the Open Inference Protocol stubs from tritonclient[grpc] "
        "(pip install 'tritonclient[grpc]' grpcio grpcio-health-checking)"
    ) from exc

__all__ = [
    "AUTH_HEADER",
    "DATATYPE_TO_NUMPY",
    "INFER_METHOD",
    "SERVICE_NAME",
    "ProtocolError",
    "bearer_metadata",
    "datatype_of",
    "decode_input",
    "decode_output",
    "encode_output",
    "nbytes_of",
    "pb",
    "pb_grpc",
]

SERVICE_NAME = "inference.GRPCInferenceService"
INFER_METHOD = f"/{SERVICE_NAME}/ModelInfer"
AUTH_HEADER = "authorization"

# v2 datatype name -> little-endian numpy dtype. BYTES (variable-length strings) is not supported by vitaccel.
DATATYPE_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

# v2 datatype -> field of InferTensorContents that carries it (FP16 has none: raw only).
_CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


class ProtocolError(Exception):
    """A request violates the protocol or the model's spec. `code` names the gRPC status to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # a grpc.StatusCode member name, e.g. "INVALID_ARGUMENT"


def datatype_of(dtype: Any) -> str:
    """The v2 datatype name of a numpy dtype (byte order ignored); ValueError if it has none."""
    dt = np.dtype(dtype)
    for name, ref in DATATYPE_TO_NUMPY.items():
        if dt.kind == ref.kind and dt.itemsize == ref.itemsize:
            return name
    raise ValueError(f"numpy dtype {dt} has no Open Inference Protocol datatype")


def nbytes_of(shape: Sequence[int], datatype: str) -> int:
    """Byte size of a tensor (Python int, no overflow) of `shape` and v2 `datatype`."""
    n = DATATYPE_TO_NUMPY[datatype].itemsize
    for d in shape:
        n *= int(d)
    return n


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata carrying `token` as `authorization: Bearer <token>` (empty if no token)."""
    return ((AUTH_HEADER, f"Bearer {token}"),) if token else ()


def decode_input(
    tensor: Any, raw: bytes | None, max_tensor_bytes: int
) -> np.ndarray:
    """Decode one `ModelInferRequest.InferInputTensor` into a read-only numpy array.

    `raw` is the matching `raw_input_contents` entry, or None if the request uses typed `contents`.
    Checks, in this order (first failure raises ProtocolError):
    datatype supported (INVALID_ARGUMENT), shape non-negative (INVALID_ARGUMENT), byte size <=
    `max_tensor_bytes` (RESOURCE_EXHAUSTED, checked from the declared shape before anything is allocated),
    payload length equal to the declared shape (INVALID_ARGUMENT).
    """
    name = tensor.name
    if tensor.datatype not in DATATYPE_TO_NUMPY:
        raise ProtocolError(
            "INVALID_ARGUMENT",
            f"input '{name}': datatype '{tensor.datatype}' is not supported "
            f"(expected one of {', '.join(DATATYPE_TO_NUMPY)})",
        )
    shape = [int(d) for d in tensor.shape]
    if any(d < 0 for d in shape):
        raise ProtocolError("INVALID_ARGUMENT", f"input '{name}': shape {shape} has a negative dimension")
    dtype = DATATYPE_TO_NUMPY[tensor.datatype]
    nbytes = nbytes_of(shape, tensor.datatype)
    if nbytes > max_tensor_bytes:
        raise ProtocolError(
            "RESOURCE_EXHAUSTED",
            f"input '{name}': shape {shape} {tensor.datatype} is {nbytes} bytes, "
            f"over this server's per-tensor limit of {max_tensor_bytes} bytes",
        )
    count = nbytes // dtype.itemsize
    if raw is not None:
        if len(raw) != nbytes:
            raise ProtocolError(
                "INVALID_ARGUMENT",
                f"input '{name}': raw_input_contents has {len(raw)} bytes, "
                f"shape {shape} {tensor.datatype} needs {nbytes}",
            )
        arr = np.frombuffer(raw, dtype=dtype, count=count)
    else:
        field = _CONTENTS_FIELD.get(tensor.datatype)
        if field is None:
            raise ProtocolError(
                "INVALID_ARGUMENT", f"input '{name}': datatype {tensor.datatype} must be sent as raw_input_contents"
            )
        values = getattr(tensor.contents, field)
        if len(values) != count:
            raise ProtocolError(
                "INVALID_ARGUMENT",
                f"input '{name}': contents.{field} has {len(values)} elements, shape {shape} needs {count}",
            )
        try:
            arr = np.asarray(values, dtype=np.int64 if dtype.kind in "iu" else dtype)
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                if arr.size and (arr.min() < info.min or arr.max() > info.max):
                    raise ProtocolError(
                        "INVALID_ARGUMENT",
                        f"input '{name}': contents.{field} has values outside the {tensor.datatype} range",
                    )
                arr = arr.astype(dtype)
        except OverflowError as exc:
            raise ProtocolError("INVALID_ARGUMENT", f"input '{name}': {exc}") from exc
        arr.setflags(write=False)
    return arr.reshape(shape)


def encode_output(name: str, array: np.ndarray) -> tuple[Any, bytes]:
    """An `InferOutputTensor` (metadata) and its `raw_output_contents` bytes (little-endian, C order)."""
    datatype = datatype_of(array.dtype)
    wire = np.ascontiguousarray(array, dtype=DATATYPE_TO_NUMPY[datatype])
    meta = pb.ModelInferResponse.InferOutputTensor(name=name, datatype=datatype, shape=list(wire.shape))
    return meta, wire.tobytes()


def decode_output(response: Any, name: str) -> np.ndarray:
    """The output tensor `name` of a `ModelInferResponse` (raw or typed contents); KeyError if absent."""
    for i, out in enumerate(response.outputs):
        if out.name != name:
            continue
        if out.datatype not in DATATYPE_TO_NUMPY:
            raise ValueError(f"output '{name}': unsupported datatype '{out.datatype}'")
        dtype = DATATYPE_TO_NUMPY[out.datatype]
        shape = [int(d) for d in out.shape]
        if i < len(response.raw_output_contents):
            raw = response.raw_output_contents[i]
            if len(raw) != nbytes_of(shape, out.datatype):
                raise ValueError(f"output '{name}': {len(raw)} bytes do not match shape {shape} {out.datatype}")
            return np.frombuffer(raw, dtype=dtype).reshape(shape)
        field = _CONTENTS_FIELD.get(out.datatype)
        if field is None:
            raise ValueError(f"output '{name}': {out.datatype} without raw_output_contents")
        return np.asarray(getattr(out.contents, field), dtype=dtype).reshape(shape)
    raise KeyError(name)
