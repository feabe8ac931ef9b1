"""Bright shapes: the embedded, procedural default data set (no download, nothing cached on disk).

Discs, squares, triangles and stripe patches in fully saturated colours on plain or gradient backgrounds.
Saturated colours and hard edges are where the checkerboard artifacts of transposed convolutions show most
(Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"), and a generator learns recognisable shapes
in a few CPU minutes, which makes this the data of the quickstart.

Every image is a pure function of ``(seed, start_index + index)``: it is drawn with a NumPy generator seeded
from that pair, never from global random state, so any worker, process or machine renders the same image.
Edges are antialiased by drawing at ``supersample`` times the size with ``PIL.ImageDraw`` and reducing with
a box filter (the exact average of each ``supersample x supersample`` block).
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from gan_upsample.errors import ConfigError

SHAPE_KINDS: tuple[str, ...] = ("disc", "square", "triangle", "stripes")
"""The shapes drawn, in the order their index is drawn from the generator."""


def saturated_colour(hue: float) -> tuple[int, int, int]:
    """Return the fully saturated, full-value RGB colour of ``hue`` (in [0, 1)) as 8-bit integers."""
    r, g, b = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
    return (round(r * 255), round(g * 255), round(b * 255))


class BrightShapes(Dataset[torch.Tensor]):
    """Procedural images of 1-4 bright shapes in saturated colours; deterministic for a seed.

    Each image has a plain (half the images) or linear-gradient background in a dark, muted colour and
    ``min_shapes`` to ``max_shapes`` shapes (discs, rotated squares, triangles, patches of parallel stripes),
    each in one fully saturated hue (HSV saturation and value 1). Shapes may overlap and run over the border.
    Items are float tensors ``(channels, image_size, image_size)`` in [-1, 1].

    Args:
        image_size: Side of the square images in pixels (at least 8).
        num_samples: Number of images, i.e. the length of the data set.
        seed: Seed of the data set; image ``i`` depends only on ``(seed, start_index + i)``.
        channels: 3 for RGB, 1 for grey (the luma of the RGB image).
        min_shapes: Fewest shapes per image (at least 1).
        max_shapes: Most shapes per image.
        supersample: Drawing scale for antialiasing; the image is drawn this many times larger, then
            box-reduced.
        start_index: Index of the first image in the stream of ``seed``; data sets with the same seed and
            disjoint index ranges share no image (the data module uses this for its validation split).
    """

    def __init__(
        self,
        image_size: int = 32,
        num_samples: int = 10_000,
        seed: int = 0,
        channels: int = 3,
        min_shapes: int = 1,
        max_shapes: int = 4,
        supersample: int = 4,
        start_index: int = 0,
    ) -> None:
        if image_size < 8:
            raise ConfigError(f"image_size must be at least 8, got {image_size}")
        if num_samples < 0:
            raise ConfigError(f"num_samples must be non-negative, got {num_samples}")
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        if not 1 <= min_shapes <= max_shapes:
            raise ConfigError(
                f"need 1 <= min_shapes <= max_shapes, got min_shapes={min_shapes}, max_shapes={max_shapes}"
            )
        if supersample < 1:
            raise ConfigError(f"supersample must be at least 1, got {supersample}")
        if seed < 0 or start_index < 0:
            raise ConfigError(f"seed and start_index must be non-negative, got seed={seed}, start_index={start_index}")
        self.image_size = image_size
        self.num_samples = num_samples
        self.seed = seed
        self.channels = channels
        self.min_shapes = min_shapes
        self.max_shapes = max_shapes
        self.supersample = supersample
        self.start_index = start_index

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.item_with_kinds(index)[0]

    def item_with_kinds(self, index: int) -> tuple[torch.Tensor, list[str]]:
        """Item ``index`` (as ``self[index]`` gives it) and the kinds of its shapes in drawing order, in one render."""
        image, kinds = self.render(index)
        tensor = torch.from_numpy(np.array(image))  # a writable copy, which torch.from_numpy wants
        tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
        return tensor.float().div_(127.5).sub_(1.0), kinds

    def image(self, index: int) -> Image.Image:
        """Render image ``index`` as an 8-bit PIL image (mode ``"RGB"``, or ``"L"`` when ``channels`` is 1)."""
        return self.render(index)[0]

    def kinds(self, index: int) -> list[str]:
        """The kinds of the shapes drawn in image ``index`` (from :data:`SHAPE_KINDS`), in drawing order.

        Later shapes may cover earlier ones, and a shape near the border may be partly cut off.
        """
        return self.render(index)[1]

    def shape_counts(self, index: int) -> torch.Tensor:
        """How many shapes of each kind image ``index`` holds: an int64 tensor in :data:`SHAPE_KINDS` order."""
        kinds = self.kinds(index)
        return torch.tensor([kinds.count(kind) for kind in SHAPE_KINDS], dtype=torch.int64)

    def render(self, index: int) -> tuple[Image.Image, list[str]]:
        """Image ``index`` (as :meth:`image` returns it) and the kinds of its shapes in drawing order."""
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for BrightShapes of length {self.num_samples}")
        index %= self.num_samples
        rng = np.random.default_rng([self.seed, self.start_index + index])
        side = self.image_size * self.supersample
        canvas = self._background(rng, side)
        draw = ImageDraw.Draw(canvas)
        kinds = []
        for _ in range(int(rng.integers(self.min_shapes, self.max_shapes + 1))):
            kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
            kinds.append(kind)
            colour = saturated_colour(float(rng.random()))
            for polygon in _shape_polygons(kind, rng, side):
                draw.polygon(polygon, fill=colour)
        if self.supersample > 1:
            canvas = canvas.reduce(self.supersample)
        return (canvas.convert("L") if self.channels == 1 else canvas), kinds

    @staticmethod
    def _background(rng: np.random.Generator, side: int) -> Image.Image:
        """A dark, muted plain or linear-gradient background, so that the bright shapes stand out."""

        def muted() -> tuple[int, int, int]:
            hsv = (float(rng.random()), float(rng.uniform(0.0, 0.7)), float(rng.uniform(0.0, 0.45)))
            r, g, b = colorsys.hsv_to_rgb(*hsv)
            return (round(r * 255), round(g * 255), round(b * 255))

        start = Image.new("RGB", (side, side), muted())
        if rng.random() < 0.5:
            return start
        end = Image.new("RGB", (side, side), muted())
        angle = rng.uniform(0.0, 2.0 * math.pi)
        # Blend weight: the pixel centres projected on the gradient direction, stretched to 0..255;
        # compositing two flat images through it is several times faster than blending in NumPy.
        coords = (np.arange(side, dtype=np.float32) + 0.5) / side
        ramp = coords[None, :] * np.float32(math.cos(angle)) + coords[:, None] * np.float32(math.sin(angle))
        ramp -= ramp.min()
        ramp *= 255.0 / max(float(ramp.max()), 1e-6)
        return Image.composite(end, start, Image.fromarray((ramp + 0.5).astype(np.uint8), mode="L"))


def _shape_polygons(kind: str, rng: np.random.Generator, side: int) -> list[list[tuple[float, float]]]:
    """Polygons (lists of ``(x, y)`` vertices in canvas pixels) that draw one shape of ``kind``."""
    cx, cy = rng.uniform(0.15 * side, 0.85 * side, size=2)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    if kind == "disc":
        radius = rng.uniform(0.1, 0.28) * side
        # A polygon with many vertices instead of ImageDraw.ellipse, so every shape is one code path.
        n = max(16, int(radius))
        return [_ring(cx, cy, radius, angle, n)]
    if kind == "square":
        half_diagonal = rng.uniform(0.1, 0.3) * side
        return [_ring(cx, cy, half_diagonal, angle, 4)]
    if kind == "triangle":
        radius = rng.uniform(0.12, 0.32) * side
        # Jittered vertex angles give non-equilateral triangles that stay fat enough to be visible.
        angles = angle + np.arange(3) * (2.0 * math.pi / 3.0) + rng.uniform(-0.35, 0.35, size=3)
        return [[(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in angles.tolist()]]
    if kind == "stripes":
        num_stripes = int(rng.integers(2, 5))
        width = rng.uniform(0.035, 0.08) * side
        length = rng.uniform(0.25, 0.55) * side
        ux, uy = math.cos(angle), math.sin(angle)  # along the stripes
        vx, vy = -uy, ux  # across the stripes
        polygons = []
        for j in range(num_stripes):
            offset = (j - (num_stripes - 1) / 2.0) * 2.0 * width
            mx, my = cx + offset * vx, cy + offset * vy
            hl, hw = length / 2.0, width / 2.0
            polygons.append(
                [
                    (mx - hl * ux - hw * vx, my - hl * uy - hw * vy),
                    (mx + hl * ux - hw * vx, my + hl * uy - hw * vy),
                    (mx + hl * ux + hw * vx, my + hl * uy + hw * vy),
                    (mx - hl * ux + hw * vx, my - hl * uy + hw * vy),
                ]
            )
        return polygons
    raise ConfigError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")


def _ring(cx: float, cy: float, radius: float, angle: float, n: int) -> list[tuple[float, float]]:
    """The ``n`` vertices of a regular polygon with circumradius ``radius``, rotated by ``angle``."""
    angles = angle + np.arange(n) * (2.0 * math.pi / n)
    xs = (cx + radius * np.cos(angles)).tolist()
    ys = (cy + radius * np.sin(angles)).tolist()
    return list(zip(xs, ys, strict=True))
