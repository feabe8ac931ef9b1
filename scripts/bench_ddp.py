"""DDP on the CPU: does plain ``ddp`` work for a GAN step, and what do 2 gloo processes cost against 1?

Trains the quickstart DCGAN (32 px, ICNR pixel shuffle, batch 32 per process) with Lightning for a fixed
number of batches and times the batches after a warm-up, in fresh processes started as ``torchrun`` starts
them. The cores are shared fairly: 1 process with 2 threads against 2 processes with 1 thread each.

    python scripts/bench_ddp.py [--batches 40] [--warmup 5] [--repeats 3]

Prints, per setting, the median time per batch, the global throughput (images/s over all processes) and the
ratio to one process. On a 2-core machine DDP cannot be faster (the same cores do the same work plus the
all-reduces): the point is its overhead, and that ``strategy: ddp`` fails while
``ddp_find_unused_parameters_true`` trains.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    import lightning.pytorch as pl
    import torch

    from gan_upsample.data import BrightShapesDataModule
    from gan_upsample.lit.gan import GANModule
    from gan_upsample.models import DCGANDiscriminator, DCGANGenerator
    from gan_upsample.nn.upsamplers import PixelShuffle

    torch.set_num_threads(args.threads)
    pl.seed_everything(0, verbose=False)
    module = GANModule(
        DCGANGenerator(latent_dim=64, image_size=32, base_channels=32, upsampler=partial(PixelShuffle, kernel_size=3)),
        DCGANDiscriminator(image_size=32, base_channels=32),
    )
    data = BrightShapesDataModule(image_size=32, batch_size=32, num_train=4096, num_val=32, max_shapes=2)
    stamps: list[float] = []

    class Clock(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            stamps.append(time.perf_counter())

    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.world_size,
        strategy=args.strategy,
        max_epochs=1,
        limit_train_batches=args.batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Clock()],
    )
    result: dict[str, object]
    try:
        trainer.fit(module, datamodule=data)
        timed = stamps[args.warmup :]
        result = {"ok": True, "seconds_per_batch": (timed[-1] - timed[0]) / (len(timed) - 1)}
    except RuntimeError as err:
        result = {"ok": False, "error": str(err).splitlines()[0][:200]}
    rank = int(os.environ.get("RANK", 0))
    Path(args.out, f"rank{rank}.json").write_text(json.dumps(result))
    if not result["ok"]:
        os._exit(0)  # a failed collective leaves the other rank waiting: don't hang at exit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(strategy: str, world_size: int, args: argparse.Namespace) -> dict[str, object]:
    threads = max(1, (os.cpu_count() or 2) // world_size)
    with tempfile.TemporaryDirectory() as out:
        port, procs = free_port(), []
        for rank in range(world_size):
            env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
            if world_size > 1:
                env.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank), NODE_RANK="0")
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                f"--strategy={strategy}",
                f"--world_size={world_size}",
                f"--threads={threads}",
                f"--batches={args.batches}",
                f"--warmup={args.warmup}",
                f"--out={out}",
            ]
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            for p in procs:
                p.wait(timeout=600)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            return {"ok": False, "error": "timed out (hang)"}
        results = [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(world_size)]
    if not all(r["ok"] for r in results):
        return next(r for r in results if not r["ok"])
    return {"ok": True, "seconds_per_batch": max(float(r["seconds_per_batch"]) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40, help="training batches per run")
    parser.add_argument("--warmup", type=int, default=5, help="batches not timed")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (median)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--world_size", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=".", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    plain = launch("ddp", 2, args)
    print(f"strategy ddp, 2 processes: {'trains' if plain['ok'] else 'FAILS: ' + str(plain['error'])}")
    settings = [("auto", 1), ("ddp_find_unused_parameters_true", 2)]
    times: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
    for repeat in range(args.repeats):  # interleaved, so that machine noise hits every setting alike
        for setting in settings:
            result = launch(*setting, args)
            if not result["ok"]:
                raise SystemExit(f"{setting}: {result['error']}")
            times[setting].append(float(result["seconds_per_batch"]))
            print(f"  repeat {repeat + 1}: {setting[0]} x{setting[1]}: {1000 * times[setting][-1]:.1f} ms/batch")
    base = statistics.median(times[("auto", 1)])
    timed = args.batches - args.warmup
    print(f"\nquickstart DCGAN-32, batch 32 per process, {timed} timed batches, median of {args.repeats}")
    print("| setting | ms per batch | images/s (all processes) | throughput ratio to 1 process |")
    print("|---|---|---|---|")
    for (strategy, world), samples in times.items():
        t = statistics.median(samples)
        throughput = 32 * world / t
        print(f"| {strategy}, {world} process(es) | {1000 * t:.1f} | {throughput:.0f} | {throughput * base / 32:.2f} |")


if __name__ == "__main__":
    main()
