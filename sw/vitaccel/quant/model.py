"""QuantizedModel: the integer model as an ordered list of layer records, executed by vitaccel.golden.

Board-side module: imports numpy only (no torch). A record is (kind, name, src, dst, params, scales):
    kind    patch_embed | layernorm | linear | attention | gelu | moe | head
    src/dst where the layer reads/writes: "image", "res" (the int16 residual stream), "act" (the current int8
            activation), "out" (int32 head output). linear with dst "res" adds into the residual (residual_add);
            moe reads "act" and updates "res".
    params  an integer-only dataclass from vitaccel.golden (what the ISA memory image packs)
    scales  host-side floats: "out" = real value of one output LSB (scalar or per output channel),
            for heads "dequant" (per channel, = s_in * s_w[n]).
A compiler lowers the list in order; `forward` and `trace` interpret it.

File format (one .npz, numpy only, no pickle): key "__meta__" holds UTF-8 JSON {"format", "version", "config",
"layers": [{kind, name, src, dst, task?, params: {field: int | "@array-key"}, scales: {...}}], "info"}; every
array is stored under "L<index>.<field>" (params) or "L<index>.scale.<name>" (float scales).
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitaccel.errors import CheckpointError, ConfigError, InputError
from vitaccel.golden.moe import MoEParams, moe
from vitaccel.golden.ops import (
    AttentionParams,
    LayerNormParams,
    LinearParams,
    PatchEmbedParams,
    attention,
    gelu,
    head,
    layernorm,
    linear_int8,
    linear_residual,
    patch_embed,
)
from vitaccel.models.config import ModelConfig

FORMAT = "vitaccel-quantized-model"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GeluParams:
    """Table GELU: int8 (256,) indexed by input code + 128 (golden.ops.gelu_table)."""

    table: np.ndarray


PARAM_TYPES: dict[str, type] = {
    "patch_embed": PatchEmbedParams,
    "layernorm": LayerNormParams,
    "linear": LinearParams,
    "attention": AttentionParams,
    "gelu": GeluParams,
    "moe": MoEParams,
    "head": LinearParams,
}


@dataclass
class LayerRecord:
    """One lowering unit; see the module docstring. task is the task index for heads, None otherwise."""

    kind: str
    name: str
    src: str
    dst: str
    params: Any
    scales: dict[str, Any] = field(default_factory=dict)
    task: int | None = None


def _dequant(x: np.ndarray, scale: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) * np.asarray(scale, dtype=np.float64)


def pixel_shuffle_np(y: np.ndarray, grid: tuple[int, int], patch: int, channels: int) -> np.ndarray:
    """(N, channels*p*p) per-patch vectors -> (channels, gh*p, gw*p); element (ch*p + py)*p + px of patch
    (gy, gx) goes to pixel (gy*p + py, gx*p + px) of channel ch (docs/DEVELOPING.md)."""
    gh, gw = grid
    y = np.asarray(y).reshape(gh, gw, channels, patch, patch).transpose(2, 0, 3, 1, 4)
    return y.reshape(channels, gh * patch, gw * patch)


class QuantizedModel:
    """Integer model: config + ordered layer records (+ free-form info such as calibration settings)."""

    def __init__(self, config: ModelConfig, layers: list[LayerRecord], info: dict[str, Any] | None = None):
        self.config = config
        self.layers = list(layers)
        self.info = dict(info or {})

    # ---- lookup --------------------------------------------------------------------------------------------
    def layer(self, name: str) -> LayerRecord:
        for rec in self.layers:
            if rec.name == name:
                return rec
        raise KeyError(f"no layer named {name!r}")

    def tensor_scale(self, name: str) -> Any:
        """Real value of one LSB of the traced tensor `name` (layer outputs only)."""
        rec = self.layer(name)
        return rec.scales["dequant"] if rec.kind == "head" else rec.scales["out"]

    # ---- execution -----------------------------------------------------------------------------------------
    def _check_images(self, images: np.ndarray) -> np.ndarray:
        cfg = self.config
        h, w = cfg.img_size
        expected = f"uint8 array (B, {cfg.in_chans}, {h}, {w})"
        if not isinstance(images, np.ndarray):
            raise InputError(f"QuantizedModel {cfg.name!r}: expected a {expected}, got {type(images).__name__}")
        if images.dtype != np.uint8:
            raise InputError(f"QuantizedModel {cfg.name!r}: expected a {expected}, got dtype {images.dtype}")
        if images.ndim != 4 or images.shape[1:] != (cfg.in_chans, h, w) or images.shape[0] < 1:
            raise InputError(f"QuantizedModel {cfg.name!r}: expected a {expected}, got shape {images.shape}")
        return images

    def _run(self, image: np.ndarray, task: int, trace: dict[str, np.ndarray] | None) -> np.ndarray:
        res = act = out = None
        for rec in self.layers:
            p = rec.params
            if rec.kind == "patch_embed":
                res = patch_embed(image, p)
                y = res
            elif rec.kind == "layernorm":
                act = layernorm(res, p)
                y = act
            elif rec.kind == "linear":
                if rec.dst == "res":
                    res = linear_residual(res, act, p, rec.name)
                    y = res
                else:
                    act = linear_int8(act, p, rec.name)
                    y = act
            elif rec.kind == "attention":
                act = attention(act, p, rec.name, trace)
                y = act
            elif rec.kind == "gelu":
                act = gelu(act, p.table)
                y = act
            elif rec.kind == "moe":
                res = moe(res, act, p, task, rec.name, trace)
                y = res
            elif rec.kind == "head":
                if rec.task != task:
                    continue
                spec = self.config.tasks[task]
                rows = act[:1] if spec.kind == "classify" else act[1:]
                out = head(rows, p, rec.name)
                y = out
            else:  # pragma: no cover - guarded at construction / load
                raise CheckpointError(f"layer {rec.name!r}: unknown kind {rec.kind!r}")
            if trace is not None:
                trace[rec.name] = y
        assert out is not None
        return out

    def forward(self, images: np.ndarray, task: int | str = 0) -> dict[str, Any]:
        """Run uint8 images (B, C, H, W) through the integer model for one task.

        Returns {"task": name, "int32": head accumulators (B, M, N) (M = 1 for classify, else patches),
        "float": dequantized output in the float model's layout (classify (B, classes); segment / depth
        (B, C, H, W)), float32}. Deterministic: the same inputs give the same bits.
        """
        cfg = self.config
        ti = cfg.task_index(task)
        images = self._check_images(images)
        accs = np.stack([self._run(img, ti, None) for img in images])
        return {"task": cfg.tasks[ti].name, "int32": accs, "float": self.dequantize_output(accs, ti)}

    def dequantize_output(self, accs: np.ndarray, task: int) -> np.ndarray:
        """Head accumulators (B, M, N) -> float32 output in the float model's layout."""
        cfg = self.config
        spec = cfg.tasks[task]
        scale = self.layer(f"heads.{task}").scales["dequant"]
        y = _dequant(accs, scale)
        if spec.kind == "classify":
            return y[:, 0, :].astype(np.float32)
        return np.stack([pixel_shuffle_np(v, cfg.grid, cfg.patch, spec.out_channels) for v in y]).astype(np.float32)

    def trace(self, image: np.ndarray, task: int | str = 0) -> dict[str, np.ndarray]:
        """Every intermediate integer tensor of one image (uint8 (C, H, W) or (1, C, H, W)), by layer name,
        in execution order. Layer outputs use the record names; attention adds "<name>.scores" (int32) and
        "<name>.probs" (uint8 codes); MoE adds gate logits / z / weights / top-k and per-expert tensors."""
        img = np.asarray(image)
        if img.ndim == 3:
            img = img[None]
        img = self._check_images(img)
        if img.shape[0] != 1:
            raise InputError(f"QuantizedModel.trace: expected one image, got a batch of {img.shape[0]}")
        tr: dict[str, np.ndarray] = {}
        self._run(img[0], self.config.task_index(task), tr)
        return tr

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write one .npz file (see the module docstring); atomic (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        recs = []
        for i, rec in enumerate(self.layers):
            pj: dict[str, Any] = {}
            for f in dataclasses.fields(rec.params):
                v = getattr(rec.params, f.name)
                if isinstance(v, np.ndarray):
                    key = f"L{i}.{f.name}"
                    if not np.issubdtype(v.dtype, np.integer):
                        raise ValueError(f"layer {rec.name}: param {f.name} has dtype {v.dtype}, expected integers")
                    arrays[key] = v
                    pj[f.name] = "@" + key
                else:
                    pj[f.name] = int(v)
            sj: dict[str, Any] = {}
            for k, v in rec.scales.items():
                if np.ndim(v) == 0:
                    sj[k] = float(v)
                else:
                    key = f"L{i}.scale.{k}"
                    arrays[key] = np.asarray(v, dtype=np.float64)
                    sj[k] = "@" + key
            recs.append({"kind": rec.kind, "name": rec.name, "src": rec.src, "dst": rec.dst, "task": rec.task,
                         "params": pj, "scales": sj})
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "config": self.config.to_dict(), "layers": recs,
                "info": self.info}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp.npz")
        try:
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], expect: ModelConfig | str | None = None) -> QuantizedModel:
        """Read a file written by `save`. CheckpointError (naming what was expected) for a missing / corrupt file,
        another format or version, an inconsistent layer list or, with `expect`, a different architecture."""
        path = Path(path)
        where = f"quantized model {path}"
        if not path.is_file():
            raise CheckpointError(f"{where}: file not found")
        expected = f"expected a {FORMAT} .npz archive written by QuantizedModel.save / `vitaccel quantize`"
        try:
            loaded = np.load(path, allow_pickle=False)
        except ValueError:  # numpy's "pickled data" message: neither .npy nor .npz, so no advice about pickles
            raise CheckpointError(f"{where}: not a .npz / .npy file (unrecognised contents); {expected}") from None
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise CheckpointError(f"{where}: not a readable .npz file ({type(exc).__name__}: {exc}); {expected}") \
                from None
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            what = f"a plain {loaded.dtype} array of shape {loaded.shape}" if isinstance(loaded, np.ndarray) \
                else type(loaded).__name__
            raise CheckpointError(f"{where}: holds {what} (np.save), not a quantized model; {expected}")
        try:
            with loaded as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
            msg = "contains an object (pickled) array" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
            raise CheckpointError(f"{where}: not a readable .npz file ({msg}); {expected}") from None
        if "__meta__" not in data:
            raise CheckpointError(f"{where}: no '__meta__' entry; expected a {FORMAT} file")
        try:
            meta = json.loads(bytes(data["__meta__"].astype(np.uint8)).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{where}: '__meta__' is not valid JSON ({exc}); {expected}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise CheckpointError(f"{where}: format {got!r}, expected {FORMAT!r}")
        if meta.get("version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{where}: format version {meta.get('version')!r}, expected {FORMAT_VERSION} (re-run vitaccel quantize)"
            )
        try:
            config = ModelConfig.from_dict(meta["config"])
        except (ConfigError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{where}: bad model config: {exc}") from None
        if expect is not None:
            from vitaccel.models.config import get_config

            exp = get_config(expect) if isinstance(expect, str) else expect
            if exp != config:
                diff = "; ".join(exp.diff(config)) or "configs differ"
                raise CheckpointError(f"{where}: architecture {config.name!r} does not match the expected "
                                      f"{exp.name!r} ({diff})")
        layers = []
        try:
            for i, rj in enumerate(meta["layers"]):
                kind = rj["kind"]
                if kind not in PARAM_TYPES:
                    raise CheckpointError(f"{where}: layer {i} has unknown kind {kind!r}, expected one of "
                                          f"{sorted(PARAM_TYPES)}")
                ptype = PARAM_TYPES[kind]
                expected_fields = {f.name for f in dataclasses.fields(ptype)}
                if set(rj["params"]) != expected_fields:
                    raise CheckpointError(f"{where}: layer {i} ({rj['name']}) params {sorted(rj['params'])}, "
                                          f"expected {sorted(expected_fields)}")
                kw = {k: _resolve(data, v, where, int) for k, v in rj["params"].items()}
                scales = {k: _resolve(data, v, where, float) for k, v in rj["scales"].items()}
                layers.append(LayerRecord(kind=kind, name=rj["name"], src=rj["src"], dst=rj["dst"],
                                          params=ptype(**kw), scales=scales, task=rj.get("task")))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{where}: malformed layer list ({type(exc).__name__}: {exc})") from None
        qm = cls(config, layers, meta.get("info", {}))
        qm.validate(where)
        return qm

    def validate(self, where: str = "quantized model") -> None:
        """CheckpointError unless the layer list matches the config (names, order, array shapes)."""
        expected = expected_layer_names(self.config)
        names = [r.name for r in self.layers]
        if names != expected:
            raise CheckpointError(f"{where}: layers {names} do not match the architecture of "
                                  f"{self.config.name!r}; expected {expected}")
        cfg = self.config
        for rec in self.layers:
            for f in dataclasses.fields(rec.params):
                v = getattr(rec.params, f.name)
                if not (isinstance(v, (int, np.integer)) or (isinstance(v, np.ndarray)
                                                             and np.issubdtype(v.dtype, np.integer))):
                    raise CheckpointError(f"{where}: layer {rec.name} field {f.name} is not integer "
                                          f"({type(v).__name__} {getattr(v, 'dtype', '')}); expected integers")
            for chk_name, got, want in _shape_checks(cfg, rec):
                if tuple(got) != tuple(want):
                    raise CheckpointError(f"{where}: layer {rec.name} field {chk_name} has shape {tuple(got)}, "
                                          f"expected {tuple(want)} for {cfg.name!r}")


def _resolve(data: dict[str, np.ndarray], v: Any, where: str, conv: Callable[[Any], Any]) -> Any:
    if isinstance(v, str) and v.startswith("@"):
        key = v[1:]
        if key not in data:
            raise CheckpointError(f"{where}: array {key!r} is missing")
        return data[key]
    if v is None:
        raise CheckpointError(f"{where}: null parameter value")
    return conv(v)


def expected_layer_names(cfg: ModelConfig) -> list[str]:
    """Layer names in execution order for an architecture (the lowering order)."""
    names = ["patch_embed"]
    for i in range(cfg.depth):
        b = f"blocks.{i}"
        names += [f"{b}.norm1", f"{b}.attn.qkv", f"{b}.attn", f"{b}.attn.proj", f"{b}.norm2"]
        if i in cfg.moe_blocks:
            names.append(f"{b}.moe")
        else:
            names += [f"{b}.mlp.fc1", f"{b}.mlp.act", f"{b}.mlp.fc2"]
    names.append("norm")
    names += [f"heads.{t}" for t in range(len(cfg.tasks))]
    return names


def _shape_checks(cfg: ModelConfig, rec: LayerRecord) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    d, p = cfg.dim, rec.params
    out: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    if rec.kind == "patch_embed":
        out = [("weight", p.weight.shape, (d, cfg.patch_dim)), ("pos", p.pos.shape, (cfg.num_patches, d)),
               ("cls", p.cls.shape, (d,))]
    elif rec.kind == "layernorm":
        out = [("gamma_mult", p.gamma_mult.shape, (d,)), ("beta", p.beta.shape, (d,))]
    elif rec.kind in ("linear", "head"):
        n = p.weight.shape[0]
        if rec.kind == "head":
            n = cfg.head_out_features(rec.task if rec.task is not None else 0)
        elif rec.name.endswith("qkv"):
            n = 3 * d
        out = [("weight", p.weight.shape[:1], (n,)), ("bias", p.bias.shape, (n,))]
    elif rec.kind == "gelu":
        out = [("table", p.table.shape, (256,))]
    elif rec.kind == "moe":
        e, h, t = cfg.num_experts, cfg.expert_hidden, len(cfg.tasks)
        out = [("gate_weight", p.gate_weight.shape, (t, e, d)), ("fc1_weight", p.fc1_weight.shape, (e, h, d)),
               ("fc2_weight", p.fc2_weight.shape, (e, d, h)), ("gelu_table", p.gelu_table.shape, (e, 256))]
    return out


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "GeluParams",
    "LayerRecord",
    "QuantizedModel",
    "expected_layer_names",
    "pixel_shuffle_np",
]
