"""What switching the discriminator's weights off during the generator's step saves (issue 11, point 3).

    python scripts/bench_g_step.py                   # about 3 minutes on 2 CPU cores
    python scripts/bench_g_step.py --repeats 7 --steps 40 --threads 1

``AdversarialModule.training_step`` builds the generator's loss inside ``toggled_optimizer(opt_g)``: D's
weights do not require grad there, so G's backward computes no D weight gradients (before, it computed
them and threw them away). This script trains the same ``GANModule`` twice per repeat under the Lightning
Trainer, on the same random batches from the same initialisation: ``toggled`` (the module as shipped) and
``untoggled`` (a subclass whose ``toggled_optimizer`` does nothing, i.e. the previous behaviour). Both
end with the same weights (checked), so they do the same optimisation work.

A step's time is the interval between two ``on_train_batch_start`` calls; the first ``--warmup`` steps are
skipped and the median of the rest is taken. Repeats alternate the order (ABBA); the table gives the
median over repeats of each side's ms/step and of the per-repeat ratio toggled / untoggled, in wall-clock
and in process CPU time (less disturbed by other processes on a shared machine).

Sizes: ``quickstart`` is the quickstart's networks (DCGAN-32, 32 base channels, ICNR pixel shuffle,
batch 32); ``dcgan32`` is DCGAN-32 with 64 base channels and transposed convolutions at batch 64.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import statistics
import time
import warnings
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from gan_upsample.lit import GANModule
from gan_upsample.models import DCGANDiscriminator, DCGANGenerator
from gan_upsample.nn.upsamplers import PixelShuffle, TransposedConv


class Untoggled(GANModule):
    """The previous behaviour: D's weights require grad while G's loss is built (their gradients are dropped)."""

    @contextlib.contextmanager
    def toggled_optimizer(self, optimizer: Any) -> Iterator[None]:
        yield


class StepTimer(pl.Callback):
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())


def networks(size: str) -> tuple[torch.nn.Module, torch.nn.Module, int]:
    torch.manual_seed(0)
    if size == "quickstart":
        g = DCGANGenerator(latent_dim=64, image_size=32, base_channels=32, upsampler=PixelShuffle)
        return g, DCGANDiscriminator(image_size=32, base_channels=32), 32
    g = DCGANGenerator(latent_dim=100, image_size=32, base_channels=64, upsampler=TransposedConv)
    return g, DCGANDiscriminator(image_size=32, base_channels=64), 64


def run(cls: type[GANModule], g: torch.nn.Module, d: torch.nn.Module, batch: int, steps: int, warmup: int) -> dict:
    module = cls(copy.deepcopy(g), copy.deepcopy(d))
    images = torch.rand(steps + 1, batch, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    loader = DataLoader(list(images), batch_size=None)
    timer = StepTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2 * (steps + 1),
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    wall = [b - a for a, b in zip(timer.wall, timer.wall[1:])][warmup:]
    cpu = [b - a for a, b in zip(timer.cpu, timer.cpu[1:])][warmup:]
    weights = torch.cat([p.detach().flatten() for p in module.generator.parameters()])
    return {"wall": statistics.median(wall) * 1e3, "cpu": statistics.median(cpu) * 1e3, "weights": weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["quickstart", "dcgan32"], choices=["quickstart", "dcgan32"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(f"threads {args.threads}, {args.repeats} repeats (ABBA), {args.steps} timed steps each, medians")
    print("| size | untoggled ms/step | toggled ms/step | toggled / untoggled (wall) | (CPU time) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        g, d, batch = networks(size)
        results: dict[str, list[dict]] = {"toggled": [], "untoggled": []}
        for r in range(args.repeats):
            order = [("toggled", GANModule), ("untoggled", Untoggled)]
            for name, cls in order if r % 2 == 0 else order[::-1]:
                results[name].append(run(cls, g, d, batch, args.steps, args.warmup))
        a, b = results["toggled"], results["untoggled"]
        torch.testing.assert_close(a[0]["weights"], b[0]["weights"])  # the same optimisation on both sides
        wall = statistics.median(x["wall"] / y["wall"] for x, y in zip(a, b))
        cpu = statistics.median(x["cpu"] / y["cpu"] for x, y in zip(a, b))
        ms_b = statistics.median(y["wall"] for y in b)
        ms_a = statistics.median(x["wall"] for x in a)
        print(f"| {size} (batch {batch}) | {ms_b:.1f} | {ms_a:.1f} | {wall:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
