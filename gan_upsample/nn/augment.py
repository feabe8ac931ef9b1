"""Differentiable augmentation of what the discriminator sees (DiffAugment).

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training": the same random, differentiable
transformations are applied to real and generated images whenever the discriminator looks at them, in its own
step and in the generator's. The discriminator can then no longer memorise the real images, and because the
transformations are differentiable the generator's gradient passes through them; since fakes are augmented
exactly like reals, the augmentations do not leak into the samples. The three policies are theirs (with
their default strengths): ``color`` (brightness, saturation, contrast), ``translation`` (shift by up to 1/8 of
the side, zero fill) and ``cutout`` (a zeroed square of half the side). Random parameters are drawn per image
from the ``torch.Generator`` passed in, on the CPU, so a seeded run (and a resumed one) augments identically.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_upsample.errors import ConfigError

__all__ = ["DiffAugment", "POLICIES"]

POLICIES = ("color", "translation", "cutout")


class DiffAugment(nn.Module):
    """Random differentiable augmentations applied per image: ``augment(images, generator)``.

    Args:
        policy: Comma-separated policies, applied in this order: ``color``, ``translation``, ``cutout``.
        translation_ratio: Largest shift as a share of the image side (each axis, whole pixels).
        cutout_ratio: Side of the zeroed square as a share of the image side.
    """

    def __init__(
        self, policy: str = "color,translation,cutout", translation_ratio: float = 0.125, cutout_ratio: float = 0.5
    ) -> None:
        super().__init__()
        names = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = [p for p in names if p not in POLICIES]
        if unknown or not names:
            raise ConfigError(f"DiffAugment: unknown policy {unknown or policy!r}; choose from {', '.join(POLICIES)}")
        if not 0 <= translation_ratio < 1 or not 0 < cutout_ratio < 1:
            raise ConfigError("DiffAugment: need 0 <= translation_ratio < 1 and 0 < cutout_ratio < 1")
        self.policies = [p for p in POLICIES if p in names]
        self.translation_ratio = translation_ratio
        self.cutout_ratio = cutout_ratio

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policies)}"

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment ``(N, C, H, W)`` images in ``[-1, 1]``; differentiable with respect to ``x``."""
        for policy in self.policies:
            x = getattr(self, f"_{policy}")(x, generator)
        return x

    @staticmethod
    def _uniform(x: Tensor, generator: torch.Generator | None, *shape: int) -> Tensor:
        return torch.rand(x.shape[0], *shape, generator=generator).to(device=x.device, dtype=x.dtype)

    def _color(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        x = x + (self._uniform(x, generator, 1, 1, 1) - 0.5)  # brightness in [-0.5, 0.5], as the reference
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (self._uniform(x, generator, 1, 1, 1) * 2.0) + mean  # saturation in [0, 2]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (self._uniform(x, generator, 1, 1, 1) + 0.5) + mean  # contrast in [0.5, 1.5]

    def _translation(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        n, _, h, w = x.shape
        max_y, max_x = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
        if max_y == 0 and max_x == 0:
            return x
        dy = torch.randint(-max_y, max_y + 1, (n, 1, 1), generator=generator).to(x.device)
        dx = torch.randint(-max_x, max_x + 1, (n, 1, 1), generator=generator).to(x.device)
        ys = torch.arange(h, device=x.device).view(1, h, 1) - dy  # output row i reads input row i - dy
        xs = torch.arange(w, device=x.device).view(1, 1, w) - dx
        inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).unsqueeze(1)
        flat = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).view(n, 1, h * w).expand(-1, x.shape[1], -1)
        moved = x.flatten(2).gather(2, flat).view_as(x)
        return moved * inside.to(x.dtype)

    def _cutout(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        n, _, h, w = x.shape
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        # The square's centre anywhere in the image (it may stick out), as in the reference.
        cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=generator).to(x.device)
        cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=generator).to(x.device)
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        cut = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
        return x * (~cut).unsqueeze(1).to(x.dtype)
