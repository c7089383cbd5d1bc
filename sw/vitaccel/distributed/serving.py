"""The board server: one ServedModel behind the Open Inference Protocol (KServe v2 gRPC) and grpc.health.v1.

Implemented RPCs of `inference.GRPCInferenceService`: ServerLive, ServerReady, ModelReady, ServerMetadata,
ModelMetadata, ModelConfig, ModelInfer. The others (streaming, statistics, repository, shared memory, trace,
log settings) answer UNIMPLEMENTED, as the base servicer does.

Security and limits:
- TLS with `tls_cert`/`tls_key`; mutual TLS when `tls_ca` is also given (client certificates signed by it).
- Bearer token: every inference-service call must carry `authorization: Bearer <token>`; compared with
  hmac.compare_digest. The health service is exempt (it reveals only SERVING / NOT_SERVING) so a load balancer or
  an unauthenticated prober can use it.
- `max_request_bytes`: gRPC's max receive message size (larger messages: RESOURCE_EXHAUSTED from gRPC itself).
- `max_tensor_bytes`: per input tensor, computed from the declared shape before decoding (RESOURCE_EXHAUSTED).
- `max_batch`: largest batch dimension accepted (INVALID_ARGUMENT above it).

Status codes: unknown model or version -> NOT_FOUND; wrong/missing/extra input, wrong datatype or shape, payload
length mismatch, unknown requested output -> INVALID_ARGUMENT; bad or missing token -> UNAUTHENTICATED; over a
size limit or more than `max_concurrent_rpcs` calls at once -> RESOURCE_EXHAUSTED; shutting down ->
UNAVAILABLE; the caller's deadline already past when the call leaves the queue -> DEADLINE_EXCEEDED (the model
is not run); model fault -> INTERNAL. The server keeps
serving after any of them.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from vitaccel import __version__
from vitaccel.distributed.backend import ServedModel
from vitaccel.distributed.protocol import (
    AUTH_HEADER,
    SERVICE_NAME,
    ProtocolError,
    decode_input,
    encode_output,
    pb,
    pb_grpc,
)
from vitaccel.errors import ConfigError, InputError

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "BoardServer", "InferenceServicer", "ServerOptions", "start_server"]

log = logging.getLogger("vitaccel.serve")

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
SERVER_NAME = "vitaccel"

# ModelConfig data types (model_config.proto DataType enum names) per v2 datatype
_CONFIG_TYPE = {
    "BOOL": "TYPE_BOOL", "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16", "UINT32": "TYPE_UINT32",
    "UINT64": "TYPE_UINT64", "INT8": "TYPE_INT8", "INT16": "TYPE_INT16", "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64", "FP16": "TYPE_FP16", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64",
}  # fmt: skip


@dataclass(frozen=True)
class ServerOptions:
    """How a board server listens and what it accepts. Sizes in bytes; `host` "0.0.0.0" to serve the network."""

    host: str = "127.0.0.1"
    port: int = 8001  # 0: pick a free port (BoardServer.port tells which)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None  # set -> require and verify client certificates (mTLS)
    token: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_tensor_bytes: int | None = None  # None: same as max_request_bytes
    max_batch: int = 64
    workers: int = 8  # gRPC handler threads
    # calls in progress or queued; more get RESOURCE_EXHAUSTED. Bounds memory: max_concurrent_rpcs x max_request_bytes
    max_concurrent_rpcs: int = 32

    def validate(self) -> None:
        """Raise ConfigError naming the option that is inconsistent."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ConfigError("--tls-ca (mutual TLS) needs --tls-cert and --tls-key")
        for opt, p in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key), ("--tls-ca", self.tls_ca)):
            if p is not None and not Path(p).is_file():
                raise ConfigError(f"{opt} {p}: file not found")
        if self.token is not None and (not self.token or any(c.isspace() for c in self.token)):
            raise ConfigError("token must be non-empty and contain no whitespace")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port}: expected 0..65535")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"--max-request-bytes {self.max_request_bytes}: expected >= 1024")
        if self.max_tensor_bytes is not None and self.max_tensor_bytes < 1:
            raise ConfigError(f"--max-tensor-bytes {self.max_tensor_bytes}: expected >= 1")
        if self.max_batch < 1 or self.workers < 1 or self.max_concurrent_rpcs < 1:
            raise ConfigError(
                f"max_batch {self.max_batch}, workers {self.workers} and max_concurrent_rpcs "
                f"{self.max_concurrent_rpcs} must be >= 1"
            )


def _abort(context: grpc.ServicerContext, err: ProtocolError) -> None:
    context.abort(getattr(grpc.StatusCode, err.code), str(err))


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """GRPCInferenceService for one ServedModel."""

    def __init__(self, model: ServedModel, options: ServerOptions) -> None:
        self.model = model
        self.options = options
        self.max_tensor_bytes = options.max_tensor_bytes or options.max_request_bytes
        self.ready = threading.Event()
        self._device_lock = None if model.thread_safe else threading.Lock()
        self._stats_lock = threading.Lock()
        self.ok_count = 0
        self.error_count = 0

    # --- health / metadata --------------------------------------------------------------------------------------
    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.ready.is_set())

    def _check_model(self, name: str, version: str) -> None:
        if name != self.model.name:
            raise ProtocolError("NOT_FOUND", f"unknown model '{name}' (this server serves '{self.model.name}')")
        if version and version != self.model.version:
            raise ProtocolError(
                "NOT_FOUND", f"model '{name}' has no version '{version}' (available: '{self.model.version}')"
            )

    def ModelReady(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            self._check_model(request.name, request.version)
        except ProtocolError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=self.ready.is_set())

    def ServerMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])

    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            self._check_model(request.name, request.version)
        except ProtocolError as err:
            _abort(context, err)
        m = self.model
        tm = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=m.name,
            versions=[m.version],
            platform=m.platform,
            inputs=[tm(name=m.input_spec.name, datatype=m.input_spec.datatype, shape=list(m.input_spec.shape))],
            outputs=[tm(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in m.output_specs],
        )

    def ModelConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            self._check_model(request.name, request.version)
        except ProtocolError as err:
            _abort(context, err)
        from tritonclient.grpc import model_config_pb2 as mc

        m = self.model
        config = mc.ModelConfig(
            name=m.name,
            platform=m.platform,
            max_batch_size=self.options.max_batch,
            input=[
                mc.ModelInput(
                    name=m.input_spec.name,
                    data_type=mc.DataType.Value(_CONFIG_TYPE[m.input_spec.datatype]),
                    dims=list(m.input_spec.item_shape),
                )
            ],
            output=[
                mc.ModelOutput(name=s.name, data_type=mc.DataType.Value(_CONFIG_TYPE[s.datatype]), dims=list(s.item_shape))
                for s in m.output_specs
            ],
        )
        return pb.ModelConfigResponse(config=config)

    # --- inference ----------------------------------------------------------------------------------------------
    def _decode_request(self, request: Any) -> tuple[np.ndarray, list[str]]:
        """Validate a ModelInferRequest against the model; return the input batch and the outputs to send."""
        self._check_model(request.model_name, request.model_version)
        spec = self.model.input_spec
        names = [t.name for t in request.inputs]
        if spec.name not in names:
            raise ProtocolError(
                "INVALID_ARGUMENT", f"missing input '{spec.name}' (request has {names or 'no inputs'})"
            )
        if len(names) != 1:
            extra = [n for n in names if n != spec.name]
            raise ProtocolError(
                "INVALID_ARGUMENT",
                f"model '{self.model.name}' takes exactly one input '{spec.name}', request also has {extra}",
            )
        tensor = request.inputs[0]
        if "shared_memory_region" in tensor.parameters:
            raise ProtocolError("INVALID_ARGUMENT", "shared-memory inputs are not supported by this server")
        if tensor.datatype != spec.datatype:
            raise ProtocolError(
                "INVALID_ARGUMENT", f"input '{spec.name}': datatype {tensor.datatype}, expected {spec.datatype}"
            )
        shape = [int(d) for d in tensor.shape]
        expected = f"[B, {', '.join(map(str, spec.item_shape))}] with 1 <= B <= {self.options.max_batch}"
        if len(shape) != len(spec.shape) or tuple(shape[1:]) != spec.item_shape:
            raise ProtocolError("INVALID_ARGUMENT", f"input '{spec.name}': shape {shape}, expected {expected}")
        n_raw = len(request.raw_input_contents)
        if n_raw not in (0, 1):
            raise ProtocolError(
                "INVALID_ARGUMENT", f"raw_input_contents has {n_raw} entries for 1 input"
            )
        batch = decode_input(tensor, request.raw_input_contents[0] if n_raw else None, self.max_tensor_bytes)
        if not 1 <= shape[0] <= self.options.max_batch:
            raise ProtocolError("INVALID_ARGUMENT", f"input '{spec.name}': shape {shape}, expected {expected}")
        known = [s.name for s in self.model.output_specs]
        wanted = [o.name for o in request.outputs] or known
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise ProtocolError("INVALID_ARGUMENT", f"unknown requested output(s) {unknown} (model has {known})")
        return batch, wanted

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self._device_lock is None:
            return self.model.infer(batch)
        with self._device_lock:
            return self.model.infer(batch)

    def ModelInfer(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.ready.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, "server is not ready (starting or shutting down)")
        try:
            batch, wanted = self._decode_request(request)
        except ProtocolError as err:
            self._count(ok=False)
            log.info("ModelInfer id=%r rejected: %s %s", request.id, err.code, err)
            _abort(context, err)
        remaining = context.time_remaining()
        # past the caller's deadline already (grpcio drops most such calls before dispatch): skip the model
        if remaining is not None and remaining <= 0:
            self._count(ok=False)
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline expired before the model ran")
        try:
            outputs = self._run(batch)
        except InputError as exc:
            self._count(ok=False)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            self._count(ok=False)
            log.exception("model '%s' failed on request id=%r", self.model.name, request.id)
            context.abort(grpc.StatusCode.INTERNAL, f"model '{self.model.name}' failed: {type(exc).__name__}: {exc}")
        response = pb.ModelInferResponse(model_name=self.model.name, model_version=self.model.version, id=request.id)
        for name in wanted:
            spec = self.model.output_spec(name)
            arr = outputs.get(name)
            if (
                arr is None
                or np.dtype(arr.dtype).newbyteorder("=") != spec.dtype.newbyteorder("=")
                or arr.ndim != len(spec.shape)
                or tuple(arr.shape[1:]) != spec.item_shape
                or arr.shape[0] != batch.shape[0]
            ):
                got = "nothing" if arr is None else f"{arr.dtype} {arr.shape}"
                self._count(ok=False)
                log.error("model '%s' output '%s' is %s, spec %s", self.model.name, name, got, spec)
                context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"model '{self.model.name}' returned {got} for output '{name}', spec {spec.datatype} {spec.shape}",
                )
            meta, raw = encode_output(name, arr)
            response.outputs.append(meta)
            response.raw_output_contents.append(raw)
        self._count(ok=True)
        return response

    def _count(self, ok: bool) -> None:
        with self._stats_lock:
            if ok:
                self.ok_count += 1
            else:
                self.error_count += 1


class _TokenInterceptor(grpc.ServerInterceptor):
    """Reject inference-service calls without the right bearer token (UNAUTHENTICATED); health is exempt."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Callable, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(f"/{SERVICE_NAME}/"):
            return handler
        values = [v for k, v in (handler_call_details.invocation_metadata or ()) if k == AUTH_HEADER]
        if len(values) == 1:
            got = values[0].encode() if isinstance(values[0], str) else bytes(values[0])
            if hmac.compare_digest(got, self._expected):
                return handler
            message = "invalid bearer token"
        elif not values:
            message = f"missing '{AUTH_HEADER}: Bearer <token>' metadata"
        else:
            message = f"more than one '{AUTH_HEADER}' metadata entry"

        def deny_unary(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        def deny_stream(request_iterator: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        kw = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(deny_unary, **kw)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(deny_unary, **kw)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(deny_stream, **kw)
        return grpc.stream_stream_rpc_method_handler(deny_stream, **kw)


class BoardServer:
    """A running board server (returned by `start_server`). `port` is the bound port."""

    def __init__(self, server: grpc.Server, servicer: InferenceServicer, health_servicer: Any, port: int) -> None:
        self.server = server
        self.servicer = servicer
        self.health = health_servicer
        self.port = port
        self._stopped = threading.Event()

    @property
    def model(self) -> ServedModel:
        return self.servicer.model

    def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING on grpc.health.v1 (overall and per model) and on ServerReady."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", self.model.name, SERVICE_NAME):
            self.health.set(service, status)
        if serving:
            self.servicer.ready.set()
        else:
            self.servicer.ready.clear()

    def stop(self, grace_s: float = 2.0) -> None:
        """Report NOT_SERVING, finish in-flight calls for up to `grace_s` seconds, stop, close the model."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.set_serving(False)
        self.server.stop(grace_s).wait(grace_s + 1.0)
        self.model.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server terminates (True) or `timeout` seconds pass (False)."""
        return self.server.wait_for_termination(timeout)

    def __enter__(self) -> BoardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(0.5)


def _read(path: Path | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def start_server(model: ServedModel, options: ServerOptions) -> BoardServer:
    """Validate, bind and start a board server for `model`; it reports SERVING once started."""
    options.validate()
    model.validate()
    grpc_options = [
        ("grpc.max_receive_message_length", options.max_request_bytes),
        ("grpc.max_send_message_length", max(options.max_request_bytes, 4 * 1024 * 1024)),
        ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
    ]
    interceptors = [_TokenInterceptor(options.token)] if options.token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="vitaccel-serve"),
        options=grpc_options,
        interceptors=interceptors,
        maximum_concurrent_rpcs=options.max_concurrent_rpcs,
    )
    servicer = InferenceServicer(model, options)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{options.host}:{options.port}"
    try:
        if options.tls_cert is not None:
            creds = grpc.ssl_server_credentials(
                [(_read(options.tls_key), _read(options.tls_cert))],
                root_certificates=_read(options.tls_ca),
                require_client_auth=options.tls_ca is not None,
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {address}: {exc}") from exc
    if port == 0:
        raise ConfigError(f"cannot listen on {address} (port in use or address not local)")
    server.start()
    board = BoardServer(server, servicer, health_servicer, port)
    board.set_serving(True)
    log.info(
        "serving model '%s' on %s:%d (tls=%s, mtls=%s, token=%s)",
        model.name, options.host, port, options.tls_cert is not None, options.tls_ca is not None, bool(options.token),
    )  # fmt: skip
    return board


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll `predicate` until it is true (True) or `timeout_s` passes (False)."""
    end = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval_s)
