"""Every GPU check of gan_upsample in one run of at most 8 minutes, written as a Markdown report.

    python scripts/device_check.py --out device_report.md            # on a GPU (scripts/device_check.sh wraps it)
    python scripts/device_check.py --smoke --out /tmp/report.md      # tiny sizes on the CPU (what the test runs)

Sections, each timed against the run's deadline (``--budget`` seconds; a section that no longer fits is
skipped and says so, a section that fails writes its error and the others still run; the report is
rewritten after every section, so a run killed by a timeout still leaves one):

1. **Environment**: versions, the device, bf16 support, whether the FID Inception weights are cached.
2. **Training throughput, DCGAN-64**: the networks of ``configs/dcgan_resize_conv_celeba64.yaml`` (read from
   the file) on random images held in memory, in fp32, bf16-mixed, bf16 + channels_last and bf16 +
   channels_last + ``compile``. Three sides per setting, from the same initial weights and the same batches
   (a ``DataLoader`` over pre-made, pinned CPU batches, moved to the device by each side): our
   ``GANModule`` under a Lightning ``Trainer``; a plain PyTorch loop doing the same step (latents from a
   seeded CPU generator, D step on ``D(real)`` and ``D(G(z).detach())``, Adam, then G's loss through D with
   D's weights switched off, Adam, non-saturating loss, autocast for bf16); and the plain loop plus the two
   host syncs ``GANModule`` makes per step (``.item()`` of a finite check before each backward), which
   isolates what those syncs cost. Images/s is the median over chunks of timed steps (warm-up steps,
   compilation included, excluded; the device synchronised at each chunk boundary); peak device memory per
   side.
3. **Upsamplers**: forward+backward time and memory of every upsampler against ``TransposedConv`` k4 at 64
   channels, 64 -> 128 px (``scripts/bench_upsamplers.py``'s ``measure``).
4. **FID feature extraction**: images/s through torchmetrics' ``FrechetInceptionDistance.update`` (Inception
   at 299 px); with random weights when the torch-fidelity file is not in the torch hub cache (said so in
   the report: the speed is the same, the values mean nothing).
5. **Quickstart through the CLI**: ``python -m gan_upsample fit --config configs/quickstart.yaml --config
   configs/trainer/gpu.yaml`` (``cpu.yaml`` and a tiny model in smoke mode) with a small ``max_steps``, its
   wall time and its logged losses.

``--smoke`` (automatic without CUDA): tiny networks and batches, a few steps, one thread, bf16 on the CPU
where supported, the compile setting skipped unless ``--compile-on-cpu``; about 30 s on one core.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import dataclasses
import functools
import gc
import importlib
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
DCGAN64 = ROOT / "configs" / "dcgan_resize_conv_celeba64.yaml"
sys.path.insert(0, str(ROOT / "scripts"))  # bench_upsamplers, beside this file


# -- sizes -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How big and how long every section is."""

    smoke: bool
    device: torch.device
    # training throughput
    overrides: dict[str, int]  # applied to both networks' init_args of the DCGAN-64 config
    batch: int
    warmup: int
    chunks: int
    chunk_steps: int
    rounds: int  # of the three sides, alternating their order; medians over rounds
    # upsamplers
    up_batch: int
    up_channels: int
    up_size: int
    up_repeats: int
    # FID
    fid_batch: int
    fid_repeats: int
    # CLI
    cli_max_steps: int


def make_plan(smoke: bool, device: torch.device) -> Plan:
    if smoke:
        return Plan(
            smoke=True,
            device=device,
            overrides={"image_size": 16, "base_channels": 4, "latent_dim": 8},
            batch=8,
            warmup=1,
            chunks=3,
            chunk_steps=2,
            rounds=1,
            up_batch=2,
            up_channels=8,
            up_size=8,
            up_repeats=3,
            fid_batch=2,
            fid_repeats=2,
            cli_max_steps=4,
        )
    return Plan(
        smoke=False,
        device=device,
        overrides={},
        batch=128,
        warmup=15,
        chunks=5,
        chunk_steps=40,
        rounds=2,
        up_batch=16,
        up_channels=64,
        up_size=64,
        up_repeats=15,
        fid_batch=128,
        fid_repeats=8,
        cli_max_steps=400,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- networks from the experiment config ------------------------------------------------------------------
def _resolve(key: str, value: Any) -> Any:
    if not (isinstance(value, dict) and "class_path" in value):
        return value
    module, _, name = value["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    args = {k: _resolve(k, v) for k, v in (value.get("init_args") or {}).items()}
    # An upsampler reaches a generator as a factory called per stage with (in_channels, out_channels).
    return functools.partial(cls, **args) if key == "upsampler" else cls(**args)


def dcgan64_networks(overrides: dict[str, int]) -> tuple[nn.Module, nn.Module, int]:
    """Generator and discriminator of ``configs/dcgan_resize_conv_celeba64.yaml`` (seeded), with ``overrides``."""
    model = yaml.safe_load(DCGAN64.read_text())["model"]["init_args"]
    torch.manual_seed(0)
    nets = []
    for key in ("generator", "discriminator"):
        spec = copy.deepcopy(model[key])
        for k, v in overrides.items():
            if k in spec["init_args"]:
                spec["init_args"][k] = v
        nets.append(_resolve(key, spec))
    return nets[0], nets[1], nets[0].latent_dim


# -- data ---------------------------------------------------------------------------------------------------
class _Batches(Dataset):
    """``length`` batches cycling over a few pre-made ones (``DataLoader(batch_size=None)`` yields them as is)."""

    def __init__(self, batches: list[torch.Tensor], length: int) -> None:
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.batches[i % len(self.batches)]


def make_loader(plan: Plan, image_size: int, length: int) -> DataLoader:
    gen = torch.Generator().manual_seed(99)
    batches = [torch.rand(plan.batch, 3, image_size, image_size, generator=gen) * 2 - 1 for _ in range(4)]
    if plan.device.type == "cuda":
        batches = [b.pin_memory() for b in batches]
    return DataLoader(_Batches(batches, length), batch_size=None, shuffle=False, num_workers=0)


# -- timing -------------------------------------------------------------------------------------------------
class ChunkClock:
    """Wall-clock stamps (device synchronised) at the starts of the batches that open each timed chunk."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.marks = {plan.warmup + i * plan.chunk_steps for i in range(plan.chunks + 1)}
        self.stamps: list[float] = []

    @property
    def batches(self) -> int:
        """Batches a run needs: warm-up, the chunks, and one more whose start closes the last chunk."""
        return max(self.marks) + 1

    def at_batch(self, index: int) -> None:
        if index in self.marks:
            sync(self.plan.device)
            self.stamps.append(time.perf_counter())

    def images_per_second(self) -> float:
        dts = [b - a for a, b in zip(self.stamps[:-1], self.stamps[1:])]
        if len(dts) != self.plan.chunks:
            raise RuntimeError(f"expected {self.plan.chunks} timed chunks, got {len(dts)}")
        return self.plan.chunk_steps * self.plan.batch / statistics.median(dts)


def reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


@dataclass(frozen=True)
class Setting:
    name: str
    precision: str  # Lightning's
    channels_last: bool = False
    compile: bool = False

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.precision == "bf16-mixed" else None


SETTINGS = [
    Setting("fp32", "32-true"),
    Setting("bf16-mixed", "bf16-mixed"),
    Setting("bf16 + channels_last", "bf16-mixed", channels_last=True),
    Setting("bf16 + channels_last + compile", "bf16-mixed", channels_last=True, compile=True),
]


def run_plain(
    g: nn.Module, d: nn.Module, latent_dim: int, plan: Plan, setting: Setting, host_syncs: bool
) -> tuple[float, float | None]:
    """The plain loop; returns (images/s, peak MiB). ``host_syncs`` adds GANModule's two ``.item()`` per step."""
    from gan_upsample.lit.adversarial import dcgan_adam
    from gan_upsample.losses.adversarial import NonSaturating

    device = plan.device
    g, d = g.to(device), d.to(device)
    if setting.channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    if setting.compile:
        fresh_compiler()
        g.compile()
        d.compile()
    g.train()
    d.train()
    loss = NonSaturating()
    opt_g, opt_d = dcgan_adam(g.parameters()), dcgan_adam(d.parameters())
    noise = torch.Generator().manual_seed(0)
    clock = ChunkClock(plan)
    autocast = (
        functools.partial(torch.autocast, device.type, dtype=setting.autocast_dtype)
        if setting.autocast_dtype is not None
        else contextlib.nullcontext
    )
    reset_memory(device)
    for i, real in enumerate(make_loader(plan, g.image_size, clock.batches)):
        clock.at_batch(i)
        real = real.to(device, non_blocking=True)
        z = torch.randn(real.shape[0], latent_dim, generator=noise).to(device)
        with autocast():
            fake = g(z)
            d_loss = loss.discriminator_loss(d(real), d(fake.detach()))
            if host_syncs:
                bool(torch.isfinite(d_loss.detach().float()).all().item())
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d.requires_grad_(False)  # as GANModule's toggled_optimizer: G's backward skips D's weight gradients
            g_loss = loss.generator_loss(d(fake))
            d.requires_grad_(True)
            if host_syncs:
                bool(torch.isfinite(g_loss.detach().float()).all().item())
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
    return clock.images_per_second(), peak_memory(device)


def run_lightning(g: nn.Module, d: nn.Module, plan: Plan, setting: Setting) -> tuple[float, float | None]:
    """``GANModule`` (defaults: no EMA, no freezing) under a ``Trainer``; returns (images/s, peak MiB)."""
    import lightning.pytorch as pl

    from gan_upsample.lit import GANModule

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.clock = ChunkClock(plan)

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            self.clock.at_batch(batch_idx)

    module = GANModule(g, d, channels_last=setting.channels_last, compile=setting.compile)
    if setting.compile:
        fresh_compiler()
    timer = Clock()
    reset_memory(plan.device)
    with tempfile.TemporaryDirectory() as root:
        pl.Trainer(
            accelerator="gpu" if plan.device.type == "cuda" else "cpu",
            devices=1,
            precision=setting.precision,  # type: ignore[arg-type]
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            default_root_dir=root,
            callbacks=[timer],
        ).fit(module, train_dataloaders=make_loader(plan, g.image_size, timer.clock.batches))
    return timer.clock.images_per_second(), peak_memory(plan.device)


def fresh_compiler() -> None:
    """Forget compiled code and statistics: each side compiles afresh (inductor's on-disk cache still helps)."""
    torch._dynamo.reset()
    with contextlib.suppress(Exception):
        from torch._dynamo.utils import counters

        counters.clear()


def dynamo_stats() -> str:
    """Graphs compiled and graph breaks since the last ``torch._dynamo.reset()`` (private counters: best effort)."""
    try:
        from torch._dynamo.utils import counters

        graphs = counters["stats"].get("unique_graphs", "?")
        breaks = sum(counters["graph_break"].values())
        return f"{graphs} graphs compiled, {breaks} graph breaks"
    except Exception as err:  # noqa: BLE001
        return f"no compile statistics ({type(err).__name__})"


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            nn.Conv2d(1, 1, 1)(torch.zeros(1, 1, 2, 2))
        return True
    except Exception:  # noqa: BLE001  (any failure means "not here")
        return False


# -- sections -----------------------------------------------------------------------------------------------
class Report:
    """The Markdown report, rewritten on disk after every section."""

    def __init__(self, path: Path, budget: float) -> None:
        self.path, self.budget, self.t0 = path, budget, time.perf_counter()
        self.parts: list[str] = []
        self.failed: list[str] = []

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def add(self, text: str) -> None:
        self.parts.append(text.rstrip() + "\n")
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        elapsed = time.perf_counter() - self.t0
        tail = f"\n_Report written after {elapsed:.0f} s of a {self.budget:.0f} s budget._\n"
        self.path.write_text("\n".join(self.parts) + tail)

    def section(self, title: str, fn: Callable[[], str], needs: float) -> None:
        """Run ``fn`` (returns the section's Markdown body) when ``needs`` seconds are left; else say it was skipped."""
        t = time.perf_counter()
        print(f"[device_check] {title} ...", flush=True)
        if self.left() < needs:
            body = f"Skipped: {self.left():.0f} s of the budget left, the section needs about {needs:.0f} s."
        else:
            try:
                body = fn()
            except Exception as err:  # noqa: BLE001  (the report names it; the other sections still run)
                self.failed.append(title)
                lines = traceback.format_exc().strip().splitlines()[-12:]
                body = f"**FAILED**: `{type(err).__name__}: {err}`\n\n```\n" + "\n".join(lines) + "\n```"
        took = time.perf_counter() - t
        self.add(f"## {title}\n\n{body.rstrip()}\n\n_({took:.1f} s)_\n")
        print(f"[device_check] {title}: {took:.1f} s", flush=True)


def environment(plan: Plan) -> str:
    import lightning

    from gan_upsample.callbacks.fid import inception_weights_path

    d = plan.device
    rows = [
        ("mode", "smoke (tiny sizes)" if plan.smoke else "full"),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("lightning", lightning.__version__),
        ("device", torch.cuda.get_device_name(d) if d.type == "cuda" else "cpu"),
        ("torch threads", str(torch.get_num_threads())),
        ("bf16 supported", str(bf16_supported(d))),
        ("cudnn.benchmark / TF32 matmul / TF32 cudnn", "n/a"),
        ("FID Inception weights", f"{'cached' if inception_weights_path().is_file() else 'not cached'}"),
    ]
    if d.type == "cuda":
        cap = torch.cuda.get_device_capability(d)
        mem = torch.cuda.get_device_properties(d).total_memory / 2**30
        rows.append(("compute capability / memory", f"{cap[0]}.{cap[1]} / {mem:.0f} GiB"))
        rows.append(("CUDA / cuDNN", f"{torch.version.cuda} / {torch.backends.cudnn.version()}"))
        rows[7] = (
            rows[7][0],
            f"{torch.backends.cudnn.benchmark} / {torch.backends.cuda.matmul.allow_tf32} / "
            f"{torch.backends.cudnn.allow_tf32} (left at PyTorch's defaults for both sides)",
        )
    return "| item | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def throughput(plan: Plan, report: Report, compile_on_cpu: bool, names: list[str] | None = None) -> str:
    g0, d0, latent_dim = dcgan64_networks(plan.overrides)
    n_g, n_d = (sum(p.numel() for p in net.parameters()) / 1e6 for net in (g0, d0))
    lines = [
        f"Networks of `{DCGAN64.relative_to(ROOT)}`"
        + (f" shrunk with {plan.overrides}" if plan.overrides else "")
        + f": G {n_g:.2f} M parameters ({g0.image_size} px), D {n_d:.2f} M; batch {plan.batch}; random images in "
        f"memory; {plan.warmup} warm-up steps, then the median of {plan.chunks} chunks of {plan.chunk_steps} steps "
        f"(device synchronised at chunk boundaries); medians over {plan.rounds} round(s) of the three sides in "
        "alternating order (the compile setting: one round), ratios taken per round.",
        "",
        "| setting | plain loop (img/s) | plain + 2 host syncs/step (img/s) | GANModule + Trainer (img/s) "
        "| ours / plain | sync cost (plain+syncs / plain) | peak MiB plain / ours |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    notes: list[str] = []
    for setting in SETTINGS:
        if names is not None and setting.name not in names:
            continue
        if setting.autocast_dtype is not None and not bf16_supported(plan.device):
            notes.append(f"{setting.name}: skipped, no bf16 on this device.")
            continue
        if setting.compile and plan.device.type != "cuda" and not compile_on_cpu:
            notes.append(f"{setting.name}: skipped on the CPU (inductor's C++ compilation; `--compile-on-cpu`).")
            continue
        needs = 150.0 if setting.compile and plan.device.type == "cuda" else 10.0
        if report.left() < needs:
            notes.append(f"{setting.name}: skipped, {report.left():.0f} s of the budget left.")
            continue
        t = time.perf_counter()
        rounds = 1 if setting.compile else plan.rounds  # every round compiles anew
        per: dict[str, list[float]] = {"plain": [], "synced": [], "ours": []}
        mem: dict[str, float | None] = {}
        try:
            for r in range(rounds):
                sides = ["plain", "synced", "ours"]
                for side in sides if r % 2 == 0 else sides[::-1]:  # alternate the order against drift
                    g, d = copy.deepcopy(g0), copy.deepcopy(d0)
                    if side == "ours":
                        ips, mib = run_lightning(g, d, plan, setting)
                    else:
                        ips, mib = run_plain(g, d, latent_dim, plan, setting, host_syncs=side == "synced")
                    per[side].append(ips)
                    mem[side] = mib
                    if setting.compile:
                        notes.append(f"{setting.name}, {side}: {dynamo_stats()}.")
        except Exception as err:  # noqa: BLE001
            report.failed.append(f"throughput {setting.name}")
            notes.append(f"{setting.name}: **FAILED** `{type(err).__name__}: {err}`")
            traceback.print_exc()
            continue
        plain, synced, ours = (statistics.median(per[k]) for k in ("plain", "synced", "ours"))
        ratio = statistics.median(o / p for o, p in zip(per["ours"], per["plain"]))
        sync_ratio = statistics.median(s_ / p for s_, p in zip(per["synced"], per["plain"]))
        memory = "n/a (CPU)" if mem["plain"] is None else f"{mem['plain']:.0f} / {mem['ours']:.0f}"
        lines.append(
            f"| {setting.name} | {plain:.1f} | {synced:.1f} | {ours:.1f} | {ratio:.3f} | {sync_ratio:.3f} | {memory} |"
        )
        if rounds > 1:
            spread = ", ".join(f"{o / p:.3f}" for o, p in zip(per["ours"], per["plain"]))
            notes.append(f"{setting.name}: ours / plain per round [{spread}].")
        notes.append(f"{setting.name}: {rounds} round(s) of three runs took {time.perf_counter() - t:.1f} s.")
        print(f"  {lines[-1]}", flush=True)
    lines += ["", *[f"- {n}" for n in notes]]
    lines += [
        "",
        "A ratio below 1 means our step is slower than the plain loop. The sync column runs the plain loop with "
        "the `.item()` of a finite check before each backward, as `GANModule` did until it learned to queue the "
        "backward before waiting for the check: below 1 there, such host syncs cost that much on this device.",
    ]
    return "\n".join(lines)


def upsamplers(plan: Plan) -> str:
    import bench_upsamplers

    rows = bench_upsamplers.measure(
        plan.up_batch, plan.up_channels, plan.up_size, plan.up_repeats, warmup=3, device=plan.device
    )
    s = plan.up_size
    mem = "peak device memory" if plan.device.type == "cuda" else "saved for backward"
    lines = [
        f"`scripts/bench_upsamplers.py`: batch {plan.up_batch}, {plan.up_channels} -> {plan.up_channels} channels, "
        f"{s}x{s} -> {2 * s}x{2 * s}, fp32, median of {plan.up_repeats} forward+backward steps.",
        "",
        f"| method | ms | time ratio | FLOP ratio | time / FLOP ratio | {mem} (MiB) | memory ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {1e3 * r['seconds']:.3f} | {r['time_ratio']:.2f} | {r['flop_ratio']:.2f} | "
            f"{r['time_per_flop_ratio']:.2f} | {r['memory_bytes'] / 2**20:.1f} | {r['memory_ratio']:.2f} |"
        )
    return "\n".join(lines)


def inception(device: torch.device) -> tuple[nn.Module, str]:
    """torchmetrics' FID Inception with the cached torch-fidelity weights, else with random weights."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    from torchmetrics.image.fid import NoTrainInceptionV3

    from gan_upsample.callbacks.fid import inception_weights_path

    path = inception_weights_path()
    kwargs = {"name": "inception-v3-compat", "features_list": ["2048"]}
    if path.is_file():
        return NoTrainInceptionV3(**kwargs, feature_extractor_weights_path=str(path)), f"cached weights ({path})"

    class RandomInception(NoTrainInceptionV3):
        def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
            return None if state_dict is None else super().load_state_dict(state_dict, *args, **kwargs)

    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: None):
        net = RandomInception(**kwargs)
    return net, f"**random weights** (no {path.name} in {path.parent}): speed only, the features mean nothing"


def fid_speed(plan: Plan) -> str:
    from torchmetrics.image.fid import FrechetInceptionDistance

    device = plan.device
    net, source = inception(device)
    fid = FrechetInceptionDistance(feature=net).to(device)
    images = torch.randint(0, 256, (plan.fid_batch, 3, 64, 64), dtype=torch.uint8, device=device)
    for _ in range(2):
        fid.update(images, real=False)
    times = []
    for _ in range(plan.fid_repeats):
        sync(device)
        t = time.perf_counter()
        fid.update(images, real=False)
        sync(device)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return (
        f"torchmetrics `FrechetInceptionDistance.update` (64 px uint8 images resized to 299, fp32), batch "
        f"{plan.fid_batch}, median of {plan.fid_repeats}: **{plan.fid_batch / med:.0f} images/s** "
        f"({1e3 * med:.1f} ms per batch). Inception: {source}."
    )


def cli_fit(plan: Plan) -> str:
    fragment = "cpu.yaml" if plan.device.type != "cuda" else "gpu.yaml"
    with tempfile.TemporaryDirectory() as root:
        args = [
            sys.executable,
            "-m",
            "gan_upsample",
            "fit",
            "--config",
            "configs/quickstart.yaml",
            "--config",
            f"configs/trainer/{fragment}",
            f"--trainer.max_steps={plan.cli_max_steps}",
            f"--trainer.logger.init_args.save_dir={root}",
            "--trainer.logger.init_args.version=check",
            f"--trainer.default_root_dir={root}",
            "--trainer.enable_progress_bar=false",
        ]
        if plan.smoke:
            args += [
                "--model.init_args.generator.init_args.image_size=8",
                "--model.init_args.generator.init_args.base_channels=4",
                "--model.init_args.discriminator.init_args.image_size=8",
                "--model.init_args.discriminator.init_args.base_channels=4",
                "--data.init_args.image_size=8",
                "--data.init_args.num_train=64",
                "--data.init_args.num_val=16",
                "--data.init_args.batch_size=16",
                "--trainer.log_every_n_steps=1",
            ]
        t = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
        wall = time.perf_counter() - t
        shown = " ".join(a if not a.startswith(root) else "<tmp>" for a in args[1:]).replace(root, "<tmp>")
        run = Path(root) / "quickstart" / "check"
        losses: list[float] = []
        if (run / "metrics.csv").is_file():
            with open(run / "metrics.csv") as f:
                losses = [float(r["train/g_loss"]) for r in csv.DictReader(f) if r.get("train/g_loss")]
        ckpts = sorted(p.name for p in run.rglob("*.ckpt"))
        grids = len(list(run.rglob("*.png")))
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"exit status {proc.returncode} after {wall:.0f} s: `python {shown}`\n{tail}")
    finite = all(math.isfinite(v) for v in losses)
    return (
        f"`python {shown}`\n\nexit status 0 in {wall:.1f} s (process start and imports included); "
        f"{len(losses)} logged `train/g_loss` values, all finite: {finite}"
        + (f", last {losses[-1]:.3f}" if losses else "")
        + f"; checkpoints: {', '.join(ckpts) or 'none'}; PNG files: {grids}."
    )


def finite_check(plan: Plan) -> str:
    """GANModule's finite check on this device: non-finite steps skipped (weights intact), then the clear error."""
    import lightning.pytorch as pl

    from gan_upsample.lit import GANModule
    from gan_upsample.lit.adversarial import NonFiniteLossError
    from gan_upsample.models import DCGANDiscriminator, DCGANGenerator

    class NaNAfter(nn.Module):
        def __init__(self, g: nn.Module, start: int) -> None:
            super().__init__()
            self.g, self.start, self.calls, self.latent_dim = g, start, 0, g.latent_dim

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            y = self.g(z)
            return y * float("nan") if self.calls > self.start else y

    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, image_size=8, base_channels=4)
    module = GANModule(g, DCGANDiscriminator(image_size=8, base_channels=4), max_nonfinite_steps=3)
    module.generator = NaNAfter(g, start=2)
    small = dataclasses.replace(plan, batch=4)
    trainer = pl.Trainer(
        accelerator="gpu" if plan.device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    try:
        trainer.fit(module, train_dataloaders=make_loader(small, 8, 8))
    except NonFiniteLossError as err:
        message = str(err)
    else:
        raise AssertionError("no NonFiniteLossError after 3 non-finite steps")
    c = module.counters
    finite = all(bool(torch.isfinite(p).all()) for p in module.parameters())
    if (c.g_steps, c.d_steps, c.skipped_steps) != (2, 2, 3) or not finite:
        raise AssertionError(f"counters {c}, all weights finite: {finite}")
    return (
        f"On {plan.device.type}: 2 good steps, then NaN fakes: 3 steps skipped (weights finite, counters "
        f"g={c.g_steps} d={c.d_steps} skipped={c.skipped_steps}), then `NonFiniteLossError`: {message[:90]}..."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    out_default = Path(os.environ.get("OUT", ".")) / "device_report.md"
    parser.add_argument("--out", type=Path, default=out_default, help="report path (default $OUT/device_report.md)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (automatic without CUDA)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all sections (default 420)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on the CPU)")
    parser.add_argument("--compile-on-cpu", action="store_true", help="also run the compile setting on the CPU")
    parser.add_argument(
        "--sections", nargs="+", default=["throughput", "upsamplers", "fid", "cli"], help="which sections to run"
    )
    tune = parser.add_argument_group("throughput section sizes (defaults: the plan's, full or smoke)")
    tune.add_argument("--image-size", type=int, help="shrink/grow the DCGAN-64 networks to this image size")
    tune.add_argument("--base-channels", type=int, help="base channels of both networks")
    tune.add_argument("--batch", type=int)
    tune.add_argument("--warmup", type=int)
    tune.add_argument("--chunks", type=int)
    tune.add_argument("--chunk-steps", type=int)
    tune.add_argument("--settings", nargs="+", choices=[st.name for st in SETTINGS], help="only these settings")
    tune.add_argument("--rounds", type=int, help="rounds of the three sides (the compile setting runs one)")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = args.threads if args.threads is not None else (None if device.type == "cuda" else 1)
    if threads is not None:
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # for the CLI's process
    plan = make_plan(args.smoke or device.type != "cuda", device)
    sizes = {k: getattr(args, k) for k in ("image_size", "base_channels") if getattr(args, k) is not None}
    plan = dataclasses.replace(
        plan,
        overrides={**plan.overrides, **sizes},
        **{
            k: getattr(args, k)
            for k in ("batch", "warmup", "chunks", "chunk_steps", "rounds")
            if getattr(args, k) is not None
        },
    )
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*TF32.*|.*tensor cores.*|.*Tensor Cores.*")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)

    report = Report(args.out, args.budget)
    report.add("# gan_upsample device check\n")
    report.section("Environment", lambda: environment(plan), needs=0)
    # Cheap sections first; the compile setting (slowest, riskiest) comes last inside the throughput section.
    report.section("Finite check on the device", lambda: finite_check(plan), needs=5)
    if "upsamplers" in args.sections:
        report.section("Upsamplers vs TransposedConv", lambda: upsamplers(plan), needs=10)
    if "fid" in args.sections:
        report.section("FID feature extraction", lambda: fid_speed(plan), needs=15)
    if "cli" in args.sections:
        report.section("Quickstart fit through the CLI", lambda: cli_fit(plan), needs=60 if not plan.smoke else 5)
    if "throughput" in args.sections:
        report.section(
            "Training throughput: GANModule vs a plain PyTorch loop (DCGAN-64)",
            lambda: throughput(plan, report, args.compile_on_cpu, args.settings),
            needs=30 if not plan.smoke else 5,
        )
    report.add(
        "## Summary\n\n"
        + (f"Failed: {', '.join(report.failed)}." if report.failed else "Every section that ran succeeded.")
    )
    print(f"[device_check] report: {args.out}", flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
