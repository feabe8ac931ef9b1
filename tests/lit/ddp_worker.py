"""One rank of the DDP tests in ``test_ddp.py``, started as ``torchrun`` would start it (RANK, WORLD_SIZE, ...).

Usage: ``python ddp_worker.py MODE OUT_DIR`` with MODE ``decisions`` (process-consistent decisions
with rank-local inputs that disagree) or ``deepsim`` (a real 2-rank DeePSiM fit with
``ddp_find_unused_parameters_true``).
Each rank writes ``OUT_DIR/<mode>_rank<R>.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

torch.set_num_threads(1)


def param_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


def decisions(rank: int, out: Path) -> None:
    import torch.distributed as dist
    from lightning.pytorch.strategies import DDPStrategy

    from gan_upsample.lit.gan import GANModule
    from gan_upsample.models import DCGANDiscriminator, DCGANGenerator

    dist.init_process_group("gloo")
    module = GANModule(
        DCGANGenerator(latent_dim=8, image_size=8, base_channels=4),
        DCGANDiscriminator(image_size=8, base_channels=4),
        freeze_threshold=0.1,
        seed=7,
    )
    module._trainer = SimpleNamespace(world_size=2, global_rank=rank, strategy=DDPStrategy())
    # Local losses that disagree: (d_loss, adv_loss) per rank and case.
    cases = {
        # rank 0 alone would freeze (0.05 < 0.1), rank 1 alone would not (0.5); mean ratio 0.275: not frozen.
        "mean_above": [(0.05, 1.0), (0.5, 1.0)],
        # rank 0 alone would freeze, rank 1 alone would not (0.15); mean ratio 0.08: frozen.
        "mean_below": [(0.01, 1.0), (0.15, 1.0)],
    }
    result: dict[str, object] = {}
    for name, per_rank in cases.items():
        d, adv = per_rank[rank]
        result[name] = {
            "local": d / adv < 0.1,
            "decided": module._freeze_discriminator(torch.tensor(d), torch.tensor(adv)),
        }
    loss = torch.tensor(float("nan") if rank == 0 else 1.0)  # non-finite on rank 0 only
    result["all_finite"] = module._all_finite(loss)
    result["skipped_steps"] = module.counters.skipped_steps
    result["latents"] = module.sample_latents(3).tolist()
    (out / f"decisions_rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def deepsim(rank: int, out: Path) -> None:
    import lightning.pytorch as pl
    from lightning.pytorch.strategies import DDPStrategy

    from gan_upsample.data import NaturalCropsDataModule
    from gan_upsample.lit.deepsim import DeePSiMModule
    from gan_upsample.models import AlexNetComparator, DeePSiMDiscriminator, EncoderDecoder

    pl.seed_everything(0)
    comparator = AlexNetComparator(layers="conv2", weights="random")
    if rank == 1:
        # A different comparator on rank 1: DDP must neither broadcast rank 0's over it nor average anything into it.
        with torch.no_grad():
            for tensor in comparator.state_dict().values():
                tensor.mul_(1.5)
    module = DeePSiMModule(
        generator=EncoderDecoder(base_channels=4, max_channels=8, num_down=2, code_channels=4),
        discriminator=DeePSiMDiscriminator(base_channels=4, max_channels=8),
        comparator=comparator,
        freeze_threshold=0.1,
    )
    comparator_before = param_digest(comparator)
    data = NaturalCropsDataModule(image_size=32, batch_size=4, num_train=32, num_val=8)
    seen: dict[str, object] = {}

    class Inspect(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen["ddp_tensors"] = sorted(
                [n for n, _ in trainer.strategy.model.named_parameters()]
                + [n for n, _ in trainer.strategy.model.named_buffers()]
            )
            seen["strategy"] = type(trainer.strategy).__name__

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen.setdefault("frozen", []).append(bool(pl_module.freezer.frozen))

    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=DDPStrategy(find_unused_parameters=True, process_group_backend="gloo"),
        max_epochs=1,
        limit_train_batches=3,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Inspect()],
    )
    trainer.fit(module, datamodule=data)
    result = {
        **seen,
        "comparator_unchanged": param_digest(comparator) == comparator_before,
        "generator": param_digest(module.generator),
        "discriminator": param_digest(module.discriminator),
        "g_steps": module.counters.g_steps,
    }
    (out / f"deepsim_rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    mode, out_dir = sys.argv[1], Path(sys.argv[2])
    {"decisions": decisions, "deepsim": deepsim}[mode](int(os.environ["RANK"]), out_dir)
