"""One rank of the 2-process FID test (run as a script by test_fid_ddp.py; a fresh interpreter per rank)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def main(rank: int, world_size: int, init_file: str, cache_dir: str, out_dir: str) -> None:
    from gan_upsample.callbacks.fid import FID

    spec = importlib.util.spec_from_file_location("fid_test_helpers", Path(__file__).parent / "test_fid.py")
    h = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(h)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        real, fake = h.images(64, seed=1), h.images(64, seed=2) + 0.2
        # Rank r generates fakes r*32 .. r*32+31, as FID.evaluate splits num_fake between ranks.
        share = fake[rank * 32 : (rank + 1) * 32]
        cb = FID(num_real=64, num_fake=64, feature_extractor=h.tiny_extractor(), cache_dir=cache_dir, batch_size=16)
        value = cb.evaluate(h.Replay(share), h.Reals(real, batch=16), rank=rank, world_size=world_size)[""]
        torch.save(torch.tensor(value), Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
