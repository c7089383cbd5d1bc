"""Post-training quantization of a float vitaccel model into a QuantizedModel (host side; torch imported lazily).

Calibration runs the float model on sample images (every task, so every gate routes) with forward hooks on the
submodules named in docs/DEVELOPING.md and records, per activation tensor, max |x| ("minmax") or the given
percentile of |x| ("percentile"). Scales: int8 activations s = stat / 127; the int16 residual stream always
uses max |x| over every residual tensor (inputs of norm1, norm2 and the final norm) times RESIDUAL_HEADROOM
/ 32767 (clipping the residual is never worth it with 16 bits); weights symmetric per output channel
s_w[n] = max |W[n, :]| / 127. docs/numerics.md "Quantizer" lists every folding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from vitaccel.errors import ConfigError, FitError, InputError
from vitaccel.golden.fixedpoint import (
    ACT_BITS,
    GATE_BITS,
    PROB_BITS,
    RESIDUAL_BITS,
    int_range,
    quantize_multiplier,
    quantize_tensor,
    round_half_away,
    saturate,
)
from vitaccel.golden.moe import MoEParams
from vitaccel.golden.ops import (
    AttentionParams,
    LinearParams,
    PatchEmbedParams,
    gelu_table,
    layernorm_params,
)
from vitaccel.golden.softmax import softmax_params
from vitaccel.models.config import ModelConfig, get_config
from vitaccel.quant.model import GeluParams, LayerRecord, QuantizedModel

METHODS = ("minmax", "percentile")
RESIDUAL_HEADROOM = 2.0  # residual scale = 2 * calibrated max / 32767: one bit of headroom for unseen inputs
GELU_NEG_RANGE = 4.0  # GELU inputs need not cover x < -4 (|gelu(x)| < 1.3e-4 there): saturating at -128 is exact enough
_SAMPLE_CAP = 1 << 16  # per hook call, at most this many |x| values are kept for percentiles (strided)
_TINY = 1e-8
I8_MAX = (1 << (ACT_BITS - 1)) - 1
I16_MAX = (1 << (RESIDUAL_BITS - 1)) - 1


# ---- calibration ---------------------------------------------------------------------------------------------
class _Stats:
    """Per-key running max |x| and a strided sample of |x| (for percentiles)."""

    def __init__(self, keep_samples: bool) -> None:
        self.max: dict[str, float] = {}
        self.pos: dict[str, float] = {}
        self.samples: dict[str, list[np.ndarray]] = {}
        self.keep = keep_samples

    def add(self, key: str, t: Any) -> None:
        raw = _np(t).ravel()
        if raw.size == 0:
            return
        a = np.abs(raw)
        if not np.all(np.isfinite(a)):
            raise InputError(f"calibration: the float model produced NaN/Inf at {key}")
        self.max[key] = max(self.max.get(key, 0.0), float(a.max()))
        self.pos[key] = max(self.pos.get(key, 0.0), float(raw.max()))
        if self.keep:
            step = max(1, a.size // _SAMPLE_CAP)
            self.samples.setdefault(key, []).append(a[::step].copy())

    def stat(self, key: str, method: str, percentile: float) -> float | None:
        if key not in self.max:
            return None
        if method == "minmax":
            return self.max[key]
        return float(np.percentile(np.concatenate(self.samples[key]), percentile))


def _as_calib_tensor(images: Any, cfg: ModelConfig):
    import torch

    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    h, w = cfg.img_size
    expected = f"(N, {cfg.in_chans}, {h}, {w}) uint8 pixels or float values in [0, 1]"
    if x.ndim != 4 or x.shape[1:] != (cfg.in_chans, h, w) or x.shape[0] < 1:
        raise InputError(f"calibration images: shape {x.shape}, expected {expected}")
    if x.dtype == np.uint8:
        xf = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            raise InputError(f"calibration images: {bad} NaN/Inf value(s), expected finite values in [0, 1]")
        if x.min() < 0.0 or x.max() > 1.0:
            raise InputError(f"calibration images: values in [{x.min():g}, {x.max():g}], expected {expected}")
        xf = x.astype(np.float32)
    else:
        raise InputError(f"calibration images: dtype {x.dtype}, expected {expected}")
    return torch.from_numpy(np.ascontiguousarray(xf))


def calibrate(model: Any, cfg: ModelConfig, images: Any, method: str = "minmax", percentile: float = 99.99,
              batch_size: int = 16, progress: bool = False) -> dict[str, float]:
    """Run the float model on the calibration images for every task; return {activation key: statistic}.

    Keys: "res" (residual stream, always max), "blocks.i.norm1", "blocks.i.q|k|v", "blocks.i.ctx",
    "blocks.i.norm2", "blocks.i.fc1", "blocks.i.fc2in", "blocks.i.e<e>.fc1", "blocks.i.e<e>.fc2in", "norm".
    Each key also has "<key>:pos", the largest signed value (max x). Experts that received no calibration token
    are absent.
    """
    import torch

    if method not in METHODS:
        raise ConfigError(f"quantize: method {method!r}, expected one of {METHODS}")
    if not 0.0 < percentile <= 100.0:
        raise ConfigError(f"quantize: percentile {percentile!r}, expected a value in (0, 100]")
    x = _as_calib_tensor(images, cfg)
    st = _Stats(keep_samples=(method == "percentile"))
    d = cfg.dim
    handles = []

    def out_hook(key: str):
        return lambda _m, _a, out: st.add(key, out)

    def in_hook(key: str):
        return lambda _m, args, _out: st.add(key, args[0])

    def qkv_hook(prefix: str):
        def fn(_m, _a, out):
            st.add(f"{prefix}.q", out[..., :d])
            st.add(f"{prefix}.k", out[..., d:2 * d])
            st.add(f"{prefix}.v", out[..., 2 * d:])
        return fn

    try:
        for i, blk in enumerate(model.blocks):
            b = f"blocks.{i}"
            handles += [blk.norm1.register_forward_hook(in_hook("res")),
                        blk.norm1.register_forward_hook(out_hook(f"{b}.norm1")),
                        blk.attn.qkv.register_forward_hook(qkv_hook(b)),
                        blk.attn.proj.register_forward_hook(in_hook(f"{b}.ctx")),
                        blk.norm2.register_forward_hook(in_hook("res")),
                        blk.norm2.register_forward_hook(out_hook(f"{b}.norm2"))]
            if i in cfg.moe_blocks:
                for e, ex in enumerate(blk.moe.experts):
                    handles += [ex.fc1.register_forward_hook(out_hook(f"{b}.e{e}.fc1")),
                                ex.fc2.register_forward_hook(in_hook(f"{b}.e{e}.fc2in"))]
            else:
                handles += [blk.mlp.fc1.register_forward_hook(out_hook(f"{b}.fc1")),
                            blk.mlp.fc2.register_forward_hook(in_hook(f"{b}.fc2in"))]
        handles += [model.norm.register_forward_hook(in_hook("res")),
                    model.norm.register_forward_hook(out_hook("norm"))]
        batches = [(t, s) for t in range(len(cfg.tasks)) for s in range(0, x.shape[0], batch_size)]
        was_training = model.training
        model.eval()
        with torch.no_grad(), _progress(progress, len(batches), "calibrating") as advance:
            for t, s in batches:
                model(x[s:s + batch_size], t)
                advance()
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    out = {k: st.stat(k, method, percentile) for k in st.max}
    out.update({f"{k}:pos": v for k, v in st.pos.items()})
    out["res"] = st.max["res"]
    return out


class _progress:
    """Context manager yielding an `advance()` callable; a rich progress bar on stderr when enabled."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self._p = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import Progress

        self._p = Progress(console=Console(stderr=True), transient=True)
        self._p.start()
        task = self._p.add_task(self.label, total=self.total)
        return lambda: self._p.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()


# ---- parameter quantization ----------------------------------------------------------------------------------
def _np(t: Any) -> np.ndarray:
    """A torch tensor as a float64 numpy array."""
    import torch

    return t.detach().to(dtype=torch.float64).cpu().numpy()


def _act_scale(stats: dict[str, float], key: str, fallback: float | None = None) -> float:
    v = stats.get(key, fallback)
    if v is None:
        raise ConfigError(f"calibration: no statistics for {key!r}")
    return max(float(v), _TINY) / I8_MAX


def _gelu_in_scale(stats: dict[str, float], key: str, fallback: tuple[float, float] | None = None) -> float:
    """Scale of a GELU input: cover the positive range (max x) but the negative side only down to -GELU_NEG_RANGE:
    s = min(stat, max(max_x, GELU_NEG_RANGE)) / 127 (saturating a more negative value changes gelu by < 1.3e-4)."""
    if key in stats:
        r, p = stats[key], stats[f"{key}:pos"]
    elif fallback is not None:
        r, p = fallback
    else:
        raise ConfigError(f"calibration: no statistics for {key!r}")
    return max(min(r, max(p, GELU_NEG_RANGE)), _TINY) / I8_MAX


def quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8: s_w[n] = max|W[n]| / 127 (1 for all-zero rows), W_q = sat8(round(W/s_w))."""
    w = np.asarray(w, dtype=np.float64)
    amax = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    s = np.where(amax > 0, amax / I8_MAX, 1.0)
    q = saturate(round_half_away(w / s.reshape((-1,) + (1,) * (w.ndim - 1))), ACT_BITS, True)
    return q.astype(np.int8), s


def quantize_bias(b: np.ndarray | None, acc_scale: np.ndarray, name: str) -> np.ndarray:
    """int32 bias at the accumulator scale s_in * s_w[n]: round_half_away(b / acc_scale); FitError if out of range."""
    if b is None:
        return np.zeros(np.shape(acc_scale), dtype=np.int32)
    q = round_half_away(np.asarray(b, dtype=np.float64) / acc_scale)
    lo, hi = int_range(32, True)
    if q.size and (q.min() < lo or q.max() > hi):
        raise FitError(f"{name}: bias does not fit int32 at the accumulator scale (max |b_q| = {np.abs(q).max()})")
    return q.astype(np.int32)


def multipliers(scales: np.ndarray | Iterable[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult uint16-range, shift 0..63) arrays (int32) from real requantization scales."""
    ms, ss = [], []
    for s in np.asarray(list(scales) if not isinstance(scales, np.ndarray) else scales, dtype=np.float64).ravel():
        try:
            m, sh = quantize_multiplier(float(s))
        except ValueError as exc:
            raise FitError(f"{name}: {exc}") from None
        ms.append(m)
        ss.append(sh)
    shape = np.shape(scales)
    return np.array(ms, dtype=np.int32).reshape(shape), np.array(ss, dtype=np.int32).reshape(shape)


def _linear(mod: Any, s_in: float, s_out: np.ndarray | float | None, name: str) -> tuple[LinearParams, np.ndarray]:
    """Quantize an nn.Linear for int8 input at s_in; requantize to s_out (scalar / per channel) or keep int32."""
    wq, sw = quantize_weight(_np(mod.weight))
    acc_scale = s_in * sw
    bq = quantize_bias(_np(mod.bias) if mod.bias is not None else None, acc_scale, name)
    if s_out is None:
        m = s = np.zeros(0, dtype=np.int32)
    else:
        m, s = multipliers(acc_scale / np.broadcast_to(np.asarray(s_out, dtype=np.float64), acc_scale.shape), name)
    return LinearParams(weight=wq, bias=bq, mult=m, shift=s), sw


def _layernorm(mod: Any, s_res: float, s_out: float, eps: float) -> Any:
    return layernorm_params(_np(mod.weight), _np(mod.bias), eps, s_res, s_out)


def quantize(model: Any, cfg: ModelConfig | str | None, calib_images: Any, method: str = "minmax",
             percentile: float = 99.99, batch_size: int = 16, progress: bool = False) -> QuantizedModel:
    """Calibrate the float model on calib_images (uint8 (N, C, H, W) or float in [0, 1]) and return the integer
    model. method: "minmax" | "percentile" (for the int8 activations; see the module docstring).
    Deterministic: the same model, images and settings give bit-identical parameters (on one machine)."""
    if cfg is None:
        cfg = model.cfg
    cfg = get_config(cfg) if isinstance(cfg, str) else cfg
    if getattr(model, "cfg", cfg) != cfg:
        raise ConfigError(f"quantize: the model's config {model.cfg.name!r} differs from {cfg.name!r}: "
                          + "; ".join(cfg.diff(model.cfg)))
    stats = calibrate(model, cfg, calib_images, method, percentile, batch_size, progress)
    s_res = max(stats["res"], _TINY) * RESIDUAL_HEADROOM / I16_MAX
    d, hd = cfg.dim, cfg.head_dim
    layers: list[LayerRecord] = []

    # patch embedding: fold (pixel/255 - mean)/std and the -128 zero point into W and b; input scale 1.
    w = _np(model.patch_embed.proj.weight)
    b = _np(model.patch_embed.proj.bias)
    ch = np.arange(cfg.patch_dim) // (cfg.patch * cfg.patch)
    mean = np.asarray(cfg.norm_mean, dtype=np.float64)[ch]
    std = np.asarray(cfg.norm_std, dtype=np.float64)[ch]
    wf = w / (255.0 * std)[None, :]
    bf = b + w @ ((128.0 / 255.0 - mean) / std)
    wq, sw = quantize_weight(wf)
    bq = quantize_bias(bf, sw, "patch_embed")
    pm, ps = multipliers(sw / s_res, "patch_embed")
    pos = _np(model.pos_embed)[0]
    cls = _np(model.cls_token)[0, 0]
    pe = PatchEmbedParams(patch=cfg.patch, weight=wq, bias=bq, mult=pm, shift=ps,
                          pos=quantize_tensor(pos[1:], s_res, RESIDUAL_BITS).astype(np.int16),
                          cls=quantize_tensor(cls + pos[0], s_res, RESIDUAL_BITS).astype(np.int16))
    layers.append(LayerRecord("patch_embed", "patch_embed", "image", "res", pe, {"out": s_res}))

    for i, blk in enumerate(model.blocks):
        bn = f"blocks.{i}"
        s_n1 = _act_scale(stats, f"{bn}.norm1")
        layers.append(LayerRecord("layernorm", f"{bn}.norm1", "res", "act",
                                  _layernorm(blk.norm1, s_res, s_n1, cfg.ln_eps), {"out": s_n1}))
        s_q, s_k, s_v = (_act_scale(stats, f"{bn}.{c}") for c in "qkv")
        s_qkv = np.repeat([s_q, s_k, s_v], d)
        qkv, _ = _linear(blk.attn.qkv, s_n1, s_qkv, f"{bn}.attn.qkv")
        layers.append(LayerRecord("linear", f"{bn}.attn.qkv", "act", "act", qkv, {"out": s_qkv}))
        s_ctx = _act_scale(stats, f"{bn}.ctx")
        sm = softmax_params(s_q * s_k / math.sqrt(hd), PROB_BITS)
        om, osh = quantize_multiplier(s_v * 2.0 ** -PROB_BITS / s_ctx)
        ap = AttentionParams(heads=cfg.heads, score_mult=int(sm.mult), score_shift=int(sm.shift),
                             out_mult=om, out_shift=osh)
        layers.append(LayerRecord("attention", f"{bn}.attn", "act", "act", ap, {"out": s_ctx}))
        proj, _ = _linear(blk.attn.proj, s_ctx, s_res, f"{bn}.attn.proj")
        layers.append(LayerRecord("linear", f"{bn}.attn.proj", "act", "res", proj, {"out": s_res}))
        s_n2 = _act_scale(stats, f"{bn}.norm2")
        layers.append(LayerRecord("layernorm", f"{bn}.norm2", "res", "act",
                                  _layernorm(blk.norm2, s_res, s_n2, cfg.ln_eps), {"out": s_n2}))
        if i in cfg.moe_blocks:
            layers.append(LayerRecord("moe", f"{bn}.moe", "act", "res",
                                      _moe(blk.moe, cfg, stats, bn, s_n2, s_res), {"out": s_res}))
        else:
            s_h = _gelu_in_scale(stats, f"{bn}.fc1")
            s_g = _act_scale(stats, f"{bn}.fc2in")
            fc1, _ = _linear(blk.mlp.fc1, s_n2, s_h, f"{bn}.mlp.fc1")
            layers.append(LayerRecord("linear", f"{bn}.mlp.fc1", "act", "act", fc1, {"out": s_h}))
            layers.append(LayerRecord("gelu", f"{bn}.mlp.act", "act", "act",
                                      GeluParams(table=gelu_table(s_h, s_g).astype(np.int8)), {"out": s_g}))
            fc2, _ = _linear(blk.mlp.fc2, s_g, s_res, f"{bn}.mlp.fc2")
            layers.append(LayerRecord("linear", f"{bn}.mlp.fc2", "act", "res", fc2, {"out": s_res}))

    s_norm = _act_scale(stats, "norm")
    layers.append(LayerRecord("layernorm", "norm", "res", "act",
                              _layernorm(model.norm, s_res, s_norm, cfg.ln_eps), {"out": s_norm}))
    for t, hmod in enumerate(model.heads):
        hp, sw = _linear(hmod, s_norm, None, f"heads.{t}")
        layers.append(LayerRecord("head", f"heads.{t}", "act", "out", hp, {"dequant": s_norm * sw}, task=t))
    info = {"method": method, "percentile": percentile if method == "percentile" else None,
            "calib_images": int(np.shape(calib_images)[0]), "residual_headroom": RESIDUAL_HEADROOM}
    qm = QuantizedModel(cfg, layers, info)
    qm.validate()
    return qm


def _moe(mod: Any, cfg: ModelConfig, stats: dict[str, float], bn: str, s_in: float, s_res: float) -> MoEParams:
    n_e = cfg.num_experts
    gw, gm, gs = [], [], []
    for t, gate in enumerate(mod.gates):
        wq, sw = quantize_weight(_np(gate.weight))
        sp = softmax_params(s_in * sw, GATE_BITS)
        if np.any(sp.shift > 63):  # pragma: no cover - quantize_multiplier guarantees <= 63
            raise FitError(f"{bn}.moe.gates.{t}: gate scale out of range")
        gw.append(wq)
        gm.append(sp.mult)
        gs.append(sp.shift)
    seen = [e for e in range(n_e) if f"{bn}.e{e}.fc1" in stats]
    fc1_fb = (max(stats[f"{bn}.e{e}.fc1"] for e in seen), max(stats[f"{bn}.e{e}.fc1:pos"] for e in seen)) \
        if seen else None
    fc2_fb = max((stats[f"{bn}.e{e}.fc2in"] for e in range(n_e) if f"{bn}.e{e}.fc2in" in stats), default=None)
    f1w, f1b, f1m, f1s, tab, f2w, f2b, cm, cs = ([] for _ in range(9))
    for e, ex in enumerate(mod.experts):
        name = f"{bn}.moe.experts.{e}"
        s_h = _gelu_in_scale(stats, f"{bn}.e{e}.fc1", fc1_fb)
        s_g = _act_scale(stats, f"{bn}.e{e}.fc2in", fc2_fb)
        fc1, _ = _linear(ex.fc1, s_in, s_h, f"{name}.fc1")
        fc2, sw2 = _linear(ex.fc2, s_g, None, f"{name}.fc2")
        m, s = multipliers(s_g * sw2 / s_res * 2.0 ** -GATE_BITS, f"{name}.combine")
        f1w.append(fc1.weight)
        f1b.append(fc1.bias)
        f1m.append(fc1.mult)
        f1s.append(fc1.shift)
        tab.append(gelu_table(s_h, s_g).astype(np.int8))
        f2w.append(fc2.weight)
        f2b.append(fc2.bias)
        cm.append(m)
        cs.append(s)
    return MoEParams(top_k=cfg.top_k, gate_weight=np.stack(gw), gate_mult=np.stack(gm).astype(np.int32),
                     gate_shift=np.stack(gs).astype(np.int32), fc1_weight=np.stack(f1w), fc1_bias=np.stack(f1b),
                     fc1_mult=np.stack(f1m), fc1_shift=np.stack(f1s), gelu_table=np.stack(tab),
                     fc2_weight=np.stack(f2w), fc2_bias=np.stack(f2b), comb_mult=np.stack(cm),
                     comb_shift=np.stack(cs))


# ---- error report --------------------------------------------------------------------------------------------
def _float_refs(model: Any, cfg: ModelConfig, x: Any, task: int) -> dict[str, np.ndarray]:
    """Float tensors matching the trace names (B, ...), captured by hooks."""
    import torch

    refs: dict[str, np.ndarray] = {}
    handles = []

    def grab(key: str, use_input: bool):
        def fn(_m, args, out):
            refs[key] = _np(args[0] if use_input else out)
        return fn

    blocks = list(model.blocks)
    try:
        for i, blk in enumerate(blocks):
            bn = f"blocks.{i}"
            if i == 0:
                handles.append(blk.norm1.register_forward_hook(grab("patch_embed", True)))
            handles += [blk.norm1.register_forward_hook(grab(f"{bn}.norm1", False)),
                        blk.attn.qkv.register_forward_hook(grab(f"{bn}.attn.qkv", False)),
                        blk.attn.proj.register_forward_hook(grab(f"{bn}.attn", True)),
                        blk.norm2.register_forward_hook(grab(f"{bn}.attn.proj", True)),
                        blk.norm2.register_forward_hook(grab(f"{bn}.norm2", False))]
            if i in cfg.moe_blocks:
                handles.append(blk.register_forward_hook(grab(f"{bn}.moe", False)))
            else:
                handles += [blk.mlp.fc1.register_forward_hook(grab(f"{bn}.mlp.fc1", False)),
                            blk.mlp.fc2.register_forward_hook(grab(f"{bn}.mlp.act", True)),
                            blk.register_forward_hook(grab(f"{bn}.mlp.fc2", False))]
        handles += [model.norm.register_forward_hook(grab("norm", False)),
                    model.heads[task].register_forward_hook(grab(f"heads.{task}", False))]
        model.eval()
        with torch.no_grad():
            model(x, task)
    finally:
        for h in handles:
            h.remove()
    return refs


def layer_sqnr(qmodel: QuantizedModel, model: Any, images: np.ndarray, task: int | str = 0) -> list[dict[str, Any]]:
    """Per-layer SQNR of the integer model against the float model on uint8 images (N, C, H, W), one task.

    Returns, in execution order, {"layer", "kind", "sqnr_db", "signal_rms", "noise_rms"} with
    SQNR = 10 log10(sum f^2 / sum (f - s * q)^2) over all images (f float tensor, q integer tensor, s its scale).
    """
    import torch

    cfg = qmodel.config
    ti = cfg.task_index(task)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise InputError(f"layer_sqnr: expected uint8 images, got {images.dtype}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    refs = _float_refs(model, cfg, x, ti)
    sig: dict[str, float] = {}
    noise: dict[str, float] = {}
    count: dict[str, int] = {}
    for b in range(images.shape[0]):
        tr = qmodel.trace(images[b], ti)
        for name, f in refs.items():
            q = tr[name]
            fb = f[b].reshape(q.shape)
            deq = q * np.asarray(qmodel.tensor_scale(name), dtype=np.float64)
            sig[name] = sig.get(name, 0.0) + float(np.sum(fb * fb))
            noise[name] = noise.get(name, 0.0) + float(np.sum((fb - deq) ** 2))
            count[name] = count.get(name, 0) + fb.size
    out = []
    for rec in qmodel.layers:
        n = rec.name
        if n not in refs:
            continue
        s, e = sig[n], noise[n]
        sqnr = float("inf") if e == 0 else (10.0 * math.log10(s / e) if s > 0 else float("-inf"))
        out.append({"layer": n, "kind": rec.kind, "sqnr_db": sqnr, "signal_rms": math.sqrt(s / count[n]),
                    "noise_rms": math.sqrt(e / count[n])})
    return out


def calibration_images(cfg: ModelConfig, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """n uint8 calibration images (n, C, H, W) for cfg and a description of their source: procedural scenes
    (3 channels), scikit-learn digits (1 channel, square), else seeded uniform random pixels."""
    h, w = cfg.img_size
    try:
        if cfg.in_chans == 3:
            from vitaccel.data import SceneGenerator

            return SceneGenerator(seed=seed, size=(h, w)).batch(0, n)[0], f"scenes(seed={seed})"
        if cfg.in_chans == 1 and h == w:
            from vitaccel.data import load_digits_dataset

            x = load_digits_dataset(size=h, channels=1, seed=seed).x_train
            if x.shape[0] >= n:
                return np.ascontiguousarray(x[:n]), f"digits(seed={seed})"
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, cfg.in_chans, h, w), dtype=np.uint8), f"random(seed={seed})"


__all__ = [
    "METHODS",
    "RESIDUAL_HEADROOM",
    "calibrate",
    "calibration_images",
    "layer_sqnr",
    "multipliers",
    "quantize",
    "quantize_bias",
    "quantize_weight",
]
