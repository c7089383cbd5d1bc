"""Procedural multi-task scenes: shapes on textured backgrounds with a per-pixel class mask and depth map.

Scene i of SceneGenerator(seed) depends only on (seed, i). Geometry (pixel centres at (x + 0.5, y + 0.5),
x to the right, y down, units pixels; depth in metres):
- background (class 0): a tilted ground plane, depth = far + (near - far) * yc / H + tilt * (xc / W - 0.5),
  far in [8, 10], near in [5, 7], tilt in [-1, 1]; stripes + noise texture.
- 1..max_shapes shapes, class 1 rectangle, 2 ellipse, 3 triangle (SCENE_CLASSES), each at one depth in
  [1.5, 4.5] m with size proportional to 1/depth (perspective); rectangles and ellipses rotated by `angle`.
- painter's algorithm, far to near: every pixel shows the nearest surface covering it, so
  mask == class of that surface and depth == its depth (occlusion consistent with depth).
- colours are random per shape (class is given by the outline only); brightness falls with depth (fog),
  factor 1.1 - 0.06 * depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vitaccel.errors import ConfigError
from vitaccel.models.config import SCENE_CLASSES

NUM_SCENE_CLASSES = len(SCENE_CLASSES)
SHAPE_DEPTH_RANGE = (1.5, 4.5)
BACKGROUND_FAR = (8.0, 10.0)
BACKGROUND_NEAR = (5.0, 7.0)


@dataclass(frozen=True)
class Shape:
    """One shape: class id (1 rect, 2 ellipse, 3 triangle), depth (m), centre (px), half sizes / semi-axes
    a (along the rotated x axis) and b, rotation angle (rad, counter-clockwise in image coordinates) and, for
    triangles, the three vertices ((x, y), ...) in pixels."""

    cls: int
    depth: float
    cx: float
    cy: float
    a: float
    b: float
    angle: float
    vertices: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Scene:
    """image uint8 (3, H, W); mask uint8 (H, W) class ids; depth float32 (H, W) metres; the shapes in
    painting order (far to near) and the background plane (far, near, tilt)."""

    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    shapes: tuple[Shape, ...]
    plane: tuple[float, float, float]
    meta: dict = field(default_factory=dict)


def background_depth(plane: tuple[float, float, float], size: tuple[int, int]) -> np.ndarray:
    """Ground-plane depth (H, W) float64 for plane = (far, near, tilt)."""
    far, near, tilt = plane
    h, w = size
    yc = (np.arange(h) + 0.5)[:, None]
    xc = (np.arange(w) + 0.5)[None, :]
    return far + (near - far) * yc / h + tilt * (xc / w - 0.5)


def shape_coverage(s: Shape, xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    """Boolean coverage of pixel centres (xc, yc) by shape s (boundary included)."""
    if s.cls == 3:
        (x0, y0), (x1, y1), (x2, y2) = s.vertices
        d0 = (x1 - x0) * (yc - y0) - (y1 - y0) * (xc - x0)
        d1 = (x2 - x1) * (yc - y1) - (y2 - y1) * (xc - x1)
        d2 = (x0 - x2) * (yc - y2) - (y0 - y2) * (xc - x2)
        return ((d0 >= 0) & (d1 >= 0) & (d2 >= 0)) | ((d0 <= 0) & (d1 <= 0) & (d2 <= 0))
    c, sn = np.cos(s.angle), np.sin(s.angle)
    dx, dy = xc - s.cx, yc - s.cy
    u = dx * c + dy * sn
    v = -dx * sn + dy * c
    if s.cls == 1:
        return (np.abs(u) <= s.a) & (np.abs(v) <= s.b)
    if s.cls == 2:
        return (u / s.a) ** 2 + (v / s.b) ** 2 <= 1.0
    raise ConfigError(f"shape class {s.cls}, expected 1 (rectangle), 2 (ellipse) or 3 (triangle)")


class SceneGenerator:
    """Deterministic scene source: scene(i) depends only on (seed, i); batch(start, n) stacks scenes."""

    def __init__(self, seed: int = 0, size: tuple[int, int] = (32, 32), max_shapes: int = 4) -> None:
        if len(size) != 2 or min(size) < 8:
            raise ConfigError(f"SceneGenerator: size {size!r}, expected (H, W) with H, W >= 8")
        if max_shapes < 1:
            raise ConfigError(f"SceneGenerator: max_shapes {max_shapes!r}, expected >= 1")
        self.seed = int(seed)
        self.size = (int(size[0]), int(size[1]))
        self.max_shapes = int(max_shapes)
        h, w = self.size
        self._yc = (np.arange(h, dtype=np.float64) + 0.5)[:, None]
        self._xc = (np.arange(w, dtype=np.float64) + 0.5)[None, :]

    num_classes = NUM_SCENE_CLASSES

    def _texture(self, rng: np.random.Generator, base: np.ndarray, amp: float) -> np.ndarray:
        """(3, H, W) float colour field: base colour + oriented stripes (random period/phase) + noise."""
        h, w = self.size
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(3.0, 10.0)
        phase = rng.uniform(0, 2 * np.pi)
        t = np.sin(2 * np.pi * (self._xc * np.cos(theta) + self._yc * np.sin(theta)) / period + phase)
        tint = rng.uniform(0.3, 1.0, size=3)
        noise = rng.normal(0.0, 6.0, size=(3, h, w))
        return base[:, None, None] + amp * tint[:, None, None] * t[None] + noise

    def _shape(self, rng: np.random.Generator) -> Shape:
        h, w = self.size
        cls = int(rng.integers(1, NUM_SCENE_CLASSES))
        depth = float(rng.uniform(*SHAPE_DEPTH_RANGE))
        r = min(h, w) * 0.5 * float(rng.uniform(0.7, 1.2)) * (SHAPE_DEPTH_RANGE[0] / depth) ** 0.8
        r = max(r, 2.5)
        cx, cy = float(rng.uniform(0.1 * w, 0.9 * w)), float(rng.uniform(0.1 * h, 0.9 * h))
        angle = float(rng.uniform(0, np.pi))
        a = r * float(rng.uniform(0.6, 1.0))
        b = r * float(rng.uniform(0.4, 1.0))
        verts: tuple[tuple[float, float], ...] = ()
        if cls == 3:
            start = rng.uniform(0, 2 * np.pi)
            angs = start + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.uniform(-0.35, 0.35, 3)
            rad = r * rng.uniform(0.8, 1.25, 3)
            verts = tuple((float(cx + q * np.cos(t)), float(cy + q * np.sin(t))) for q, t in zip(rad, angs))
        return Shape(cls, depth, cx, cy, a, b, angle, verts)

    def scene(self, index: int) -> Scene:
        """Scene number `index` (>= 0)."""
        if index < 0:
            raise ConfigError(f"SceneGenerator.scene: index {index}, expected >= 0")
        rng = np.random.default_rng([self.seed, int(index), 0x5CE7E])
        plane = (
            float(rng.uniform(*BACKGROUND_FAR)),
            float(rng.uniform(*BACKGROUND_NEAR)),
            float(rng.uniform(-1.0, 1.0)),
        )
        depth = background_depth(plane, self.size)
        img = self._texture(rng, rng.uniform(60, 200, size=3), 25.0) * (1.1 - 0.06 * depth)[None]
        mask = np.zeros(self.size, dtype=np.uint8)
        n = int(rng.integers(1, self.max_shapes + 1))
        shapes = sorted((self._shape(rng) for _ in range(n)), key=lambda s: -s.depth)
        for s in shapes:  # far to near: nearer shapes overwrite
            cov = shape_coverage(s, self._xc, self._yc)
            tex = self._texture(rng, rng.uniform(20, 235, size=3), float(rng.uniform(0, 35)))
            img = np.where(cov[None], tex * (1.1 - 0.06 * s.depth), img)
            mask[cov] = s.cls
            depth = np.where(cov, s.depth, depth)
        image = np.clip(np.floor(img + 0.5), 0, 255).astype(np.uint8)
        return Scene(image, mask, depth.astype(np.float32), tuple(shapes), plane)

    def batch(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scenes start..start+n-1 stacked: images uint8 (n, 3, H, W), masks uint8 (n, H, W),
        depth float32 (n, H, W) in metres."""
        h, w = self.size
        images = np.empty((n, 3, h, w), dtype=np.uint8)
        masks = np.empty((n, h, w), dtype=np.uint8)
        depths = np.empty((n, h, w), dtype=np.float32)
        for j in range(n):
            s = self.scene(start + j)
            images[j], masks[j], depths[j] = s.image, s.mask, s.depth
        return images, masks, depths
