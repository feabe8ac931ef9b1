"""Training under DDP with 2 CPU processes on gloo: through the CLI (Lightning launches the ranks) and
through ranks started as ``torchrun`` starts them (``ddp_worker.py``)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(mode: str, out: Path, world_size: int = 2) -> list[dict]:
    port = free_port()
    procs = []
    for rank in range(world_size):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(world_size),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "NODE_RANK": "0",
        }
        procs.append(subprocess.Popen([sys.executable, str(HERE / "ddp_worker.py"), mode, str(out)], env=env))
    assert [p.wait(timeout=240) for p in procs] == [0] * world_size
    return [json.loads((out / f"{mode}_rank{r}.json").read_text()) for r in range(world_size)]


def test_decisions_agree_across_ranks_when_local_losses_disagree(tmp_path: Path) -> None:
    r0, r1 = run_ranks("decisions", tmp_path)
    for case, expected in (("mean_above", False), ("mean_below", True)):
        assert r0[case]["local"] != r1[case]["local"]  # alone, the ranks would decide differently
        assert r0[case]["decided"] == r1[case]["decided"] == expected  # the decision on the mean losses
    # A loss non-finite on one rank only: both ranks skip the step.
    assert r0["all_finite"] is False and r1["all_finite"] is False
    assert r0["skipped_steps"] == r1["skipped_steps"] == 1
    # Latents differ across ranks (seed offset by rank)...
    assert r0["latents"] != r1["latents"]


def test_latents_are_reproducible_per_rank() -> None:
    from types import SimpleNamespace

    from gan_upsample.lit.gan import GANModule
    from gan_upsample.models import DCGANDiscriminator, DCGANGenerator

    def latents(rank: int) -> torch.Tensor:
        module = GANModule(DCGANGenerator(latent_dim=8, image_size=8, base_channels=4), DCGANDiscriminator(8, 3, 4))
        module._trainer = SimpleNamespace(world_size=2, global_rank=rank)
        return module.sample_latents(4)

    assert torch.equal(latents(1), latents(1))
    assert not torch.equal(latents(0), latents(1))


def test_deepsim_fit_keeps_comparator_out_of_ddp_and_ranks_in_sync(tmp_path: Path) -> None:
    r0, r1 = run_ranks("deepsim", tmp_path)
    assert r0["strategy"] == "DDPStrategy"
    # DDP sees the generator and the discriminator, never the comparator (held outside the module tree).
    assert any(".generator." in name for name in r0["ddp_tensors"])
    assert not any("comparator" in name or "stages" in name for name in r0["ddp_tensors"])
    # Rank 1 started with a different comparator: had DDP synchronised it, it would now be rank 0's.
    assert r0["comparator_unchanged"] and r1["comparator_unchanged"]
    # The trained networks are identical on both ranks (gradients all-reduced), and training happened.
    assert r0["generator"] == r1["generator"] and r0["discriminator"] == r1["discriminator"]
    assert r0["g_steps"] == r1["g_steps"] == 3
    assert r0["frozen"] == r1["frozen"]


def callbacks_config(tmp_path: Path) -> Path:
    path = tmp_path / "callbacks.yaml"
    path.write_text(
        """
trainer:
  callbacks:
    - class_path: gan_upsample.callbacks.SampleGrid
      init_args: {num_samples: 8, every_n_steps: 2}
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {save_last: true}
"""
    )
    return path


def tiny_ddp(tmp_path: Path, tiny: list[str], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gan_upsample",
        "fit",
        "--config",
        QUICKSTART,
        "--config",
        str(ROOT / "configs" / "trainer" / "ddp_cpu.yaml"),
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.logger.init_args.version=ddp",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        *tiny,
        "--model.init_args.freeze_threshold=0.5",
        "--data.init_args.num_train=64",
        "--data.init_args.num_val=16",
        "--data.init_args.batch_size=8",
        "--config",
        str(callbacks_config(tmp_path)),
        *extra,
    ]


@pytest.mark.timeout(300)
def test_cli_ddp_fit_checkpoints_and_resumes(tmp_path: Path, tiny_quickstart: list[str]) -> None:
    env = {**os.environ, "MASTER_PORT": str(free_port())}
    subprocess.run(tiny_ddp(tmp_path, tiny_quickstart, "--trainer.max_epochs=1"), check=True, env=env, timeout=240)
    run = tmp_path / "quickstart" / "ddp"
    last = run / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    # 64 images, 8 per rank-batch, 2 ranks: 4 batches per epoch on each rank.
    assert state["gan_upsample"]["counters"]["g_steps"] == 4
    assert state["gan_upsample"]["counters"]["images_seen"] == 64

    env["MASTER_PORT"] = str(free_port())
    subprocess.run(
        tiny_ddp(tmp_path, tiny_quickstart, "--trainer.max_epochs=2", f"--ckpt_path={last}"),
        check=True,
        env=env,
        timeout=240,
    )
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["epoch"] == 1
    assert state["gan_upsample"]["counters"]["g_steps"] == 8
    assert state["gan_upsample"]["counters"]["images_seen"] == 128
    # Rank 0 alone writes the grids, once per step it is due (a second writer would fail the atomic rename or
    # leave a stray temporary file).
    grids = sorted(p.name for p in (run / "images" / "samples").iterdir())
    assert grids == [f"step_{s:07d}.png" for s in (2, 4, 6, 8)]
    # Metrics reach the CSV once per logged step, reduced over ranks; the losses are finite.
    with open(run / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/d_loss")]
    assert len(rows) == 8
    assert all(torch.isfinite(torch.tensor(float(r["train/d_loss"]))) for r in rows)
    assert "train/d_frozen_share" in rows[0]
