"""The cluster client: fan one request out to every board, fuse what arrives by the deadline.

cluster.yaml (relative paths are relative to the YAML file):

    version: 1                  # optional
    deadline_ms: 200            # per-request deadline, client side, covering every board
    unhealthy_after: 3          # consecutive misses before a board is marked unhealthy (then skipped)
    probe_interval_ms: 500      # how often unhealthy boards are probed (grpc.health.v1 + ModelReady)
    fusion_model: fusion.npz    # optional; default: zero-filled concatenation of the features
    boards:
      - name: zcu102-a
        address: 192.168.1.10:8001
        model: sub0             # model name served by that board
        feature_size: 64        # F of its "features" output (B, F)
        feature_output: features   # optional, default "features"
        token_file: token.txt   # optional: bearer token sent as `authorization: Bearer ...`
        tls:                    # optional: connect with TLS
          ca: ca.pem            #   optional CA for the server certificate (system roots if omitted)
          cert: client.pem      #   optional client certificate + key (mutual TLS)
          key: client.key
          server_name: board-a  #   optional: the name to verify in the server certificate

Behaviour of `Cluster.infer(images)`:
- every healthy board gets the same request at once (gRPC futures); unhealthy boards are skipped;
- the call returns by the deadline: answers still outstanding are cancelled and count as misses;
- the fusion gets `features[i] = None` for a board that did not answer (the shipped fusions zero-fill);
- a board with `unhealthy_after` consecutive misses (timeout, unavailable, auth/model errors, bad responses) is
  marked unhealthy; a background thread probes it every `probe_interval_ms` and brings it back when both its
  health service reports SERVING and ModelReady is true. A board rejecting the request as invalid
  (INVALID_ARGUMENT) is not counted as a miss: the request was at fault, not the board;
- per-board latency (send to answer, ms) and who answered are in the result.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vitaccel.distributed.backend import FEATURES, TensorSpec
from vitaccel.distributed.fusion import ConcatFusion, Fusion, as_fusion, load_fusion
from vitaccel.distributed.protocol import (
    DATATYPE_TO_NUMPY,
    INFER_METHOD,
    bearer_metadata,
    datatype_of,
    decode_output,
    pb,
    pb_grpc,
)
from vitaccel.errors import ConfigError, InputError

__all__ = [
    "BoardConfig",
    "BoardHealth",
    "BoardReply",
    "Cluster",
    "ClusterConfig",
    "ClusterResult",
    "TLSConfig",
    "load_cluster_config",
    "measure_fanout_latency",
]

log = logging.getLogger("vitaccel.cluster")

_ADDRESS_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# status codes that blame the request, not the board: no miss is counted
_REQUEST_FAULTS = {grpc.StatusCode.INVALID_ARGUMENT}


# ------------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class TLSConfig:
    """TLS towards one board: CA for the server certificate, client cert/key for mTLS (PEM bytes)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    server_name: str | None = None


@dataclass(frozen=True)
class BoardConfig:
    name: str
    address: str
    model: str
    feature_size: int
    feature_output: str = FEATURES
    token: str | None = None
    tls: TLSConfig | None = None


@dataclass(frozen=True)
class ClusterConfig:
    boards: tuple[BoardConfig, ...]
    deadline_ms: float = 200.0
    unhealthy_after: int = 3
    probe_interval_ms: float = 500.0
    fusion_model: Path | None = None
    source: str = "<dict>"

    @property
    def feature_sizes(self) -> list[int]:
        return [b.feature_size for b in self.boards]


_TOP_KEYS = {"version", "deadline_ms", "unhealthy_after", "probe_interval_ms", "fusion_model", "boards"}
_BOARD_KEYS = {"name", "address", "model", "feature_size", "feature_output", "token_file", "tls"}
_TLS_KEYS = {"ca", "cert", "key", "server_name"}


def _number(src: str, where: str, value: Any, minimum: float, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{src}: {where}: expected {kind} >= {minimum}, got {value!r}")
    return value


def _text(src: str, where: str, value: Any, pattern: re.Pattern | None = None, expected: str = "") -> str:
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        raise ConfigError(f"{src}: {where}: expected {expected or 'a non-empty string'}, got {value!r}")
    return value


def _file(src: str, where: str, value: Any, base: Path) -> Path:
    p = Path(_text(src, where, value, expected="a file path"))
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise ConfigError(f"{src}: {where}: file {p} not found")
    return p


def _unknown(src: str, where: str, data: dict, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ConfigError(f"{src}: {where}: unknown key(s) {extra} (allowed: {sorted(allowed)})")


def parse_cluster_config(data: Any, source: str = "<dict>", base_dir: Path | None = None) -> ClusterConfig:
    """Validate a cluster description (the parsed YAML); errors name `source` and the field."""
    src = source
    base = base_dir or Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: expected a mapping at the top level, got {type(data).__name__}")
    _unknown(src, "top level", data, _TOP_KEYS)
    if data.get("version", 1) != 1:
        raise ConfigError(f"{src}: version: expected 1, got {data.get('version')!r}")
    boards_raw = data.get("boards")
    if not isinstance(boards_raw, list) or not boards_raw:
        raise ConfigError(f"{src}: boards: expected a non-empty list of boards, got {boards_raw!r}")
    boards: list[BoardConfig] = []
    for i, b in enumerate(boards_raw):
        w = f"boards[{i}]"
        if not isinstance(b, dict):
            raise ConfigError(f"{src}: {w}: expected a mapping, got {b!r}")
        _unknown(src, w, b, _BOARD_KEYS)
        for key in ("name", "address", "model", "feature_size"):
            if key not in b:
                raise ConfigError(f"{src}: {w}.{key}: missing (required: name, address, model, feature_size)")
        name = _text(src, f"{w}.name", b["name"], _NAME_RE, "a name of letters, digits, '_', '.', '-'")
        address = _text(src, f"{w}.address", b["address"], _ADDRESS_RE, "'host:port'")
        port = int(address.rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            raise ConfigError(f"{src}: {w}.address: port {port} outside 1..65535")
        model = _text(src, f"{w}.model", b["model"])
        fsize = _number(src, f"{w}.feature_size", b["feature_size"], 1, integer=True)
        fout = _text(src, f"{w}.feature_output", b.get("feature_output", FEATURES))
        token = None
        if "token_file" in b:
            tpath = _file(src, f"{w}.token_file", b["token_file"], base)
            token = tpath.read_text().strip()
            if not token or any(c.isspace() for c in token):
                raise ConfigError(f"{src}: {w}.token_file: {tpath} must hold one token without whitespace")
        tls = None
        if "tls" in b:
            t = b["tls"]
            if t is True:
                t = {}
            if not isinstance(t, dict):
                raise ConfigError(f"{src}: {w}.tls: expected a mapping (ca, cert, key, server_name) or true, got {t!r}")
            _unknown(src, f"{w}.tls", t, _TLS_KEYS)
            if ("cert" in t) != ("key" in t):
                raise ConfigError(f"{src}: {w}.tls: 'cert' and 'key' must be given together")
            pem = {k: _file(src, f"{w}.tls.{k}", t[k], base).read_bytes() for k in ("ca", "cert", "key") if k in t}
            sn = _text(src, f"{w}.tls.server_name", t["server_name"]) if "server_name" in t else None
            tls = TLSConfig(ca=pem.get("ca"), cert=pem.get("cert"), key=pem.get("key"), server_name=sn)
        boards.append(BoardConfig(name, address, model, fsize, fout, token, tls))
    names = [b.name for b in boards]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ConfigError(f"{src}: boards[{i}].name: duplicate board name '{n}'")
    deadline = _number(src, "deadline_ms", data.get("deadline_ms", 200), 1)
    after = _number(src, "unhealthy_after", data.get("unhealthy_after", 3), 1, integer=True)
    probe = _number(src, "probe_interval_ms", data.get("probe_interval_ms", 500), 10)
    fusion = _file(src, "fusion_model", data["fusion_model"], base) if data.get("fusion_model") is not None else None
    return ClusterConfig(tuple(boards), float(deadline), int(after), float(probe), fusion, src)


def load_cluster_config(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster.yaml (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read cluster file ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc
    return parse_cluster_config(data, str(p), p.resolve().parent)


# ------------------------------------------------------------------------------------------------ results
@dataclass
class BoardReply:
    """One board's part in one request. `latency_ms`: send to answer (None if it did not answer)."""

    name: str
    answered: bool
    latency_ms: float | None
    error: str | None = None  # why it did not answer
    skipped: bool = False  # not asked: it was marked unhealthy


@dataclass
class ClusterResult:
    """The fused output (None if no board answered) and what each board did."""

    request_id: str
    output: np.ndarray | None
    features: list[np.ndarray | None]
    boards: list[BoardReply]
    elapsed_ms: float
    deadline_ms: float

    @property
    def ok(self) -> bool:
        return self.output is not None

    @property
    def answered(self) -> list[str]:
        return [b.name for b in self.boards if b.answered]

    @property
    def missing(self) -> list[str]:
        return [b.name for b in self.boards if not b.answered]

    def to_dict(self, include_output: bool = True) -> dict[str, Any]:
        """JSON-ready summary (output as nested lists)."""
        d: dict[str, Any] = {
            "request_id": self.request_id,
            "ok": self.ok,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "deadline_ms": self.deadline_ms,
            "answered": self.answered,
            "missing": self.missing,
            "boards": [
                {
                    "name": b.name,
                    "answered": b.answered,
                    "latency_ms": None if b.latency_ms is None else round(b.latency_ms, 3),
                    "error": b.error,
                    "skipped": b.skipped,
                }
                for b in self.boards
            ],
        }
        if include_output:
            d["output"] = None if self.output is None else self.output.tolist()
        return d


@dataclass
class BoardHealth:
    """A snapshot of one board's health as the cluster sees it."""

    name: str
    healthy: bool
    consecutive_misses: int
    total_answers: int
    total_misses: int
    last_error: str | None
    marked_unhealthy: int  # how many times it was marked unhealthy
    recovered: int  # how many times a probe brought it back
    recent_latency_ms: list[float] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ the client
class _Board:
    """Connection and health state of one board (mutable fields guarded by Cluster._lock)."""

    def __init__(self, cfg: BoardConfig, probe_interval_ms: float, max_message_bytes: int) -> None:
        self.cfg = cfg
        backoff = int(min(1000, max(50, probe_interval_ms)))
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # reconnect quickly once a dead board comes back (gRPC's default backoff grows to 120 s)
            ("grpc.initial_reconnect_backoff_ms", min(100, backoff)),
            ("grpc.min_reconnect_backoff_ms", min(100, backoff)),
            ("grpc.max_reconnect_backoff_ms", backoff),
            ("grpc.enable_retries", 0),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if cfg.tls is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=cfg.tls.ca, private_key=cfg.tls.key, certificate_chain=cfg.tls.cert
            )
            if cfg.tls.server_name:
                options.append(("grpc.ssl_target_name_override", cfg.tls.server_name))
            self.channel = grpc.secure_channel(cfg.address, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(cfg.address, options=options)
        # requests are serialised once per request and sent as bytes to every board
        self.infer = self.channel.unary_unary(
            INFER_METHOD, request_serializer=None, response_deserializer=pb.ModelInferResponse.FromString
        )
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.metadata = bearer_metadata(cfg.token)
        self.prefix = pb.ModelInferRequest(model_name=cfg.model).SerializeToString()
        self.suffix = pb.ModelInferRequest(
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=cfg.feature_output)]
        ).SerializeToString()
        self.healthy = True
        self.misses = 0
        self.total_answers = 0
        self.total_misses = 0
        self.last_error: str | None = None
        self.marked_unhealthy = 0
        self.recovered = 0
        self.latencies: deque[float] = deque(maxlen=256)


def _status_text(exc: BaseException) -> tuple[grpc.StatusCode | None, str]:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        code = exc.code()
        details = exc.details() or ""
        return code, f"{code.name}: {details}" if details else code.name
    return None, f"{type(exc).__name__}: {exc}"


class Cluster:
    """Fan-out client over the boards of a cluster config. Thread-safe: `infer` may be called concurrently.

    `fusion`: an object with `fuse(features)` or a callable; default: the config's `fusion_model`, else
    `ConcatFusion`. `probe`: run the background prober (False leaves recovery to `probe_now()`).
    """

    def __init__(
        self,
        config: ClusterConfig | str | Path,
        fusion: Fusion | Callable[[list[np.ndarray | None]], np.ndarray] | None = None,
        probe: bool = True,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.config = config if isinstance(config, ClusterConfig) else load_cluster_config(config)
        cfg = self.config
        if fusion is not None:
            self.fusion = as_fusion(fusion)
        elif cfg.fusion_model is not None:
            self.fusion = load_fusion(cfg.fusion_model, cfg.feature_sizes, f"{cfg.source}: fusion_model")
        else:
            self.fusion = ConcatFusion(cfg.feature_sizes)
        self._boards = [_Board(b, cfg.probe_interval_ms, max_message_bytes) for b in cfg.boards]
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._id_prefix = f"{os.getpid():x}-{int(time.time() * 1000) & 0xFFFFFF:x}"
        self._input_spec: TensorSpec | None = None
        self._stop = threading.Event()
        self._closed = False
        self._prober: threading.Thread | None = None
        if probe:
            self._prober = threading.Thread(target=self._probe_loop, name="vitaccel-cluster-probe", daemon=True)
            self._prober.start()

    # --- public ---------------------------------------------------------------------------------------------
    @property
    def board_names(self) -> list[str]:
        return [b.cfg.name for b in self._boards]

    def infer(self, images: np.ndarray, deadline_ms: float | None = None) -> ClusterResult:
        """Run one request: images (B, C, H, W) or one image (C, H, W) in the boards' input dtype.

        Returns by the deadline (`deadline_ms`, default the config's) with whatever arrived.
        Raises InputError for an array that does not fit the boards' input spec (when known) or that every
        board rejected as invalid.
        """
        if self._closed:
            raise RuntimeError("Cluster is closed")
        batch = self._prepare(images)
        deadline_ms = float(self.config.deadline_ms if deadline_ms is None else deadline_ms)
        rid = f"{self._id_prefix}-{next(self._ids)}"
        request_common = pb.ModelInferRequest(
            id=rid,
            inputs=[
                pb.ModelInferRequest.InferInputTensor(
                    name=self._input_name(), datatype=datatype_of(batch.dtype), shape=list(batch.shape)
                )
            ],
            raw_input_contents=[batch.tobytes()],
        )
        common = request_common.SerializeToString()
        n = len(self._boards)
        arrival: list[float | None] = [None] * n
        sent: list[float] = [0.0] * n
        futures: list[Any] = [None] * n
        cond = threading.Condition()
        pending = [0]

        def on_done(i: int, _fut: Any) -> None:
            t = time.perf_counter()
            with cond:
                arrival[i] = t
                pending[0] -= 1
                cond.notify()

        t0 = time.perf_counter()
        t_end = t0 + deadline_ms / 1000.0
        with self._lock:
            healthy = [b.healthy for b in self._boards]
        for i, board in enumerate(self._boards):
            if not healthy[i]:
                continue
            timeout = max(t_end - time.perf_counter(), 0.0)
            with cond:
                pending[0] += 1
            sent[i] = time.perf_counter()
            # the board's model name and requested output are merged into the common message by concatenation
            # (protobuf: concatenated messages parse as their merge)
            fut = board.infer.future(board.prefix + common + board.suffix, timeout=timeout, metadata=board.metadata)
            futures[i] = fut
            fut.add_done_callback(lambda f, i=i: on_done(i, f))
        with cond:
            while pending[0] > 0:
                remaining = t_end - time.perf_counter()
                if remaining <= 0:
                    break
                cond.wait(remaining)
            done_at = list(arrival)
        replies: list[BoardReply] = []
        features: list[np.ndarray | None] = [None] * n
        invalid: list[str] = []
        misses: list[tuple[int, str]] = []
        answers: list[tuple[int, float]] = []
        for i, board in enumerate(self._boards):
            name = board.cfg.name
            fut = futures[i]
            if fut is None:
                replies.append(BoardReply(name, False, None, "unhealthy: skipped", skipped=True))
                continue
            if done_at[i] is None:
                fut.cancel()
                err = f"no answer within the {deadline_ms:g} ms deadline"
                replies.append(BoardReply(name, False, None, err))
                misses.append((i, err))
                continue
            latency = (done_at[i] - sent[i]) * 1000.0
            exc = fut.exception()
            if exc is not None:
                code, err = _status_text(exc)
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:  # gRPC's own timer fired first: the same miss
                    err = f"no answer within the {deadline_ms:g} ms deadline ({err})"
                replies.append(BoardReply(name, False, None, err))
                if code in _REQUEST_FAULTS:
                    invalid.append(f"{name}: {err}")
                else:
                    misses.append((i, err))
                continue
            try:
                features[i] = self._check_response(fut.result(), board.cfg, rid, batch.shape[0])
            except ValueError as bad:
                err = f"bad response: {bad}"
                replies.append(BoardReply(name, False, None, err))
                misses.append((i, err))
                continue
            replies.append(BoardReply(name, True, latency))
            answers.append((i, latency))
        self._record(answers, misses)
        if invalid and not answers:
            raise InputError(f"request rejected by the boards: {'; '.join(invalid)}")
        output = None
        if answers:
            output = self.fusion.fuse(features)
        elapsed = (time.perf_counter() - t0) * 1000.0
        return ClusterResult(rid, output, features, replies, elapsed, deadline_ms)

    def health(self) -> dict[str, BoardHealth]:
        """Per-board health snapshot, in board order."""
        with self._lock:
            return {
                b.cfg.name: BoardHealth(
                    name=b.cfg.name,
                    healthy=b.healthy,
                    consecutive_misses=b.misses,
                    total_answers=b.total_answers,
                    total_misses=b.total_misses,
                    last_error=b.last_error,
                    marked_unhealthy=b.marked_unhealthy,
                    recovered=b.recovered,
                    recent_latency_ms=list(b.latencies),
                )
                for b in self._boards
            }

    def probe_now(self, timeout_s: float = 1.0) -> dict[str, bool]:
        """Probe every unhealthy board once now; return {name: healthy} for the boards probed."""
        with self._lock:
            targets = [b for b in self._boards if not b.healthy]
        return {b.cfg.name: self._probe(b, timeout_s) for b in targets}

    def input_spec(self, timeout_s: float = 2.0) -> TensorSpec | None:
        """The boards' input spec from ModelMetadata of the first board that answers (cached); None if none did."""
        if self._input_spec is None:
            for board in self._boards:
                spec = self._fetch_spec(board, timeout_s)
                if spec is not None:
                    self._input_spec = spec
                    break
        return self._input_spec

    def close(self) -> None:
        """Stop the prober and close the channels. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._prober is not None:
            self._prober.join(timeout=5.0)
        for b in self._boards:
            b.channel.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------------------------
    def _input_name(self) -> str:
        return self._input_spec.name if self._input_spec is not None else "images"

    def _prepare(self, images: Any) -> np.ndarray:
        arr = np.asarray(images)
        spec = self._input_spec
        single = len(spec.item_shape) if spec is not None else 3  # one image without a batch dimension
        if arr.ndim == single:
            arr = arr[None]
        if arr.dtype.newbyteorder("=") not in {d.newbyteorder("=") for d in DATATYPE_TO_NUMPY.values()}:
            raise InputError(f"images: dtype {arr.dtype} is not an Open Inference Protocol datatype")
        if spec is not None:
            spec.check(arr, "images")
        return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))

    @staticmethod
    def _check_response(resp: Any, cfg: BoardConfig, rid: str, batch: int) -> np.ndarray:
        if resp.id != rid:
            raise ValueError(f"response id {resp.id!r} does not match request id {rid!r}")
        try:
            feats = decode_output(resp, cfg.feature_output)
        except KeyError:
            raise ValueError(f"no output '{cfg.feature_output}'") from None
        if feats.dtype != np.dtype("<f4") or feats.shape != (batch, cfg.feature_size):
            raise ValueError(
                f"'{cfg.feature_output}' is {feats.dtype} {feats.shape}, expected float32 ({batch}, {cfg.feature_size})"
            )
        return feats

    def _record(self, answers: list[tuple[int, float]], misses: list[tuple[int, str]]) -> None:
        after = self.config.unhealthy_after
        with self._lock:
            for i, latency in answers:
                b = self._boards[i]
                b.misses = 0
                b.total_answers += 1
                b.latencies.append(latency)
            for i, err in misses:
                b = self._boards[i]
                b.misses += 1
                b.total_misses += 1
                b.last_error = err
                if b.healthy and b.misses >= after:
                    b.healthy = False
                    b.marked_unhealthy += 1
                    log.warning("board %s marked unhealthy after %d consecutive misses (%s)", b.cfg.name, b.misses, err)

    def _probe(self, board: _Board, timeout_s: float) -> bool:
        try:
            h = board.health_stub.Check(
                health_pb2.HealthCheckRequest(service=board.cfg.model), timeout=timeout_s, metadata=board.metadata
            )
            if h.status != health_pb2.HealthCheckResponse.SERVING:
                return False
            r = board.stub.ModelReady(
                pb.ModelReadyRequest(name=board.cfg.model), timeout=timeout_s, metadata=board.metadata
            )
            if not r.ready:
                return False
        except grpc.RpcError as exc:
            with self._lock:
                board.last_error = f"probe: {_status_text(exc)[1]}"
            return False
        with self._lock:
            if not board.healthy:
                board.healthy = True
                board.misses = 0
                board.recovered += 1
                log.warning("board %s is back (health SERVING, model ready)", board.cfg.name)
        return True

    def _fetch_spec(self, board: _Board, timeout_s: float) -> TensorSpec | None:
        try:
            md = board.stub.ModelMetadata(
                pb.ModelMetadataRequest(name=board.cfg.model), timeout=timeout_s, metadata=board.metadata
            )
        except grpc.RpcError:
            return None
        if len(md.inputs) != 1:
            return None
        t = md.inputs[0]
        try:
            return TensorSpec(t.name, t.datatype, tuple(int(d) for d in t.shape))
        except ConfigError:
            return None

    def _probe_loop(self) -> None:
        interval = self.config.probe_interval_ms / 1000.0
        timeout = min(max(interval, 0.2), 2.0)
        while not self._stop.is_set():
            if self._input_spec is None:
                with self._lock:
                    candidates = [b for b in self._boards if b.healthy]
                for b in candidates:
                    spec = self._fetch_spec(b, timeout)
                    if spec is not None:
                        self._input_spec = spec
                        break
            with self._lock:
                targets = [b for b in self._boards if not b.healthy]
            for b in targets:
                if self._stop.is_set():
                    return
                self._probe(b, timeout)
            self._stop.wait(interval)


# ------------------------------------------------------------------------------------------------ measurement
def _percentiles(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}


def measure_fanout_latency(
    cluster: Cluster,
    images: np.ndarray | Sequence[np.ndarray],
    n: int,
    warmup: int = 20,
    concurrency: int = 1,
    deadline_ms: float | None = None,
) -> dict[str, Any]:
    """Latency of `n` fan-out requests (one image each, cycling through `images`), after `warmup` unmeasured ones.

    Latency is the wall time of `Cluster.infer` (send to fused result) in ms; percentiles use linear interpolation
    (numpy default). With `concurrency > 1` that many threads issue requests at once. Returns
    {"n", "concurrency", "boards", "image_shape", "image_bytes", "deadline_ms", "p50_ms", "p90_ms", "p99_ms",
    "mean_ms", "min_ms", "max_ms", "throughput_rps", "incomplete" (requests missing at least one board),
    "failed" (no board answered), "per_board": {name: {"p50_ms", "p99_ms", "answered"}}}.
    """
    imgs = [np.asarray(x) for x in images]
    if not imgs or n < 1:
        raise ValueError("need at least one image and n >= 1")
    for k in range(warmup):
        cluster.infer(imgs[k % len(imgs)], deadline_ms)

    def one(k: int) -> tuple[float, ClusterResult]:
        t = time.perf_counter()
        res = cluster.infer(imgs[k % len(imgs)], deadline_ms)
        return (time.perf_counter() - t) * 1000.0, res

    t_start = time.perf_counter()
    if concurrency <= 1:
        runs = [one(k) for k in range(n)]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            runs = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t_start
    lat = np.array([r[0] for r in runs])
    per_board: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(cluster.board_names):
        bl = [r[1].boards[j].latency_ms for r in runs if r[1].boards[j].answered]
        per_board[name] = {**_percentiles(bl), "answered": len(bl)}
    return {
        "n": n,
        "concurrency": concurrency,
        "boards": len(cluster.board_names),
        "image_shape": list(imgs[0].shape),
        "image_bytes": int(imgs[0].nbytes),
        "deadline_ms": cluster.config.deadline_ms if deadline_ms is None else deadline_ms,
        **_percentiles(lat),
        "p90_ms": float(np.percentile(lat, 90)),
        "mean_ms": float(lat.mean()),
        "min_ms": float(lat.min()),
        "max_ms": float(lat.max()),
        "throughput_rps": n / wall if wall > 0 else float("inf"),
        "incomplete": sum(1 for r in runs if r[1].missing),
        "failed": sum(1 for r in runs if not r[1].ok),
        "per_board": per_board,
    }
