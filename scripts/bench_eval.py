"""Cost of one FID evaluation with the real statistics uncached vs cached on disk, in one run.

    python scripts/bench_eval.py                  # 64 real + 64 fake at 32 px, about 1.5-2 minutes on 2 CPU cores
    python scripts/bench_eval.py --num 512 --repeats 3 --threads 2   # on a GPU-less machine: ~30 minutes

Inception at 299 px runs at only ~5 images/s on 2 shared CPU cores, so the default is small; the
cached/uncached ratio is about (N) / (2N) plus fixed costs either way, so it barely depends on ``--num``.

The feature extractor is torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's FID Inception: the exact
architecture and TF-1 style bilinear resize to 299 px) with **random weights**: its weight loading is
patched out so no download is needed. Timings depend on the architecture only, so they carry over to the
real weights; the FID values printed are meaningless. If the real weights are already in the torch hub cache
the script still uses random ones, so the numbers are the same on every machine.

Real images: ``BrightShapesDataModule(image_size=32)`` validation split; fakes: a random
``DCGANGenerator(image_size=32)``. *Uncached*: a fresh callback and an empty cache folder, so the real
images pass through the extractor and the statistics are written to disk; *cached*: a fresh callback (a
later run) reading that file, so only the fakes are generated and extracted. Each is timed ``--repeats``
times and the median is reported; extraction throughput is images through the extractor / time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from unittest import mock

import torch

from gan_upsample.callbacks.fid import FID
from gan_upsample.data import BrightShapesDataModule
from gan_upsample.models import DCGANGenerator


def random_inception() -> torch.nn.Module:
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    from torchmetrics.image.fid import NoTrainInceptionV3

    with (
        mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None),
    ):
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
    net.num_features = 2048
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=64, help="real and fake images each")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    dm = BrightShapesDataModule(
        image_size=args.size, num_train=args.batch_size, num_val=args.num, batch_size=args.batch_size
    )
    dm.setup("validate")
    gen = DCGANGenerator(latent_dim=64, image_size=args.size, base_channels=32).eval()
    inception = random_inception()

    def fresh(cache: str) -> FID:
        cb = FID(num_real=args.num, num_fake=args.num, batch_size=args.batch_size, cache_dir=cache)
        from torchmetrics.image.fid import FrechetInceptionDistance

        # The default extractor path, with the random-weight Inception built once above.
        with mock.patch("gan_upsample.callbacks.fid._default_inception", lambda weights: inception):
            cb._get_metric(torch.device("cpu"))
        assert isinstance(cb._metric, FrechetInceptionDistance)
        return cb

    def sample(z: torch.Tensor) -> torch.Tensor:
        return gen(z)

    def timed(cb: FID) -> float:
        t0 = time.perf_counter()
        cb.evaluate(sample, 64, dm)
        return time.perf_counter() - t0

    # Warm-up (allocator, first conv calls), not timed.
    with tempfile.TemporaryDirectory() as warm:
        warm_cb = fresh(warm)
        with torch.no_grad():
            warm_cb._metric.inception(torch.zeros(8, 3, args.size, args.size, dtype=torch.uint8))

    uncached, cached, extracted = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cb = fresh(cache)
            uncached.append(timed(cb))
            extracted.append(cb.real_images_extracted)
            cb2 = fresh(cache)
            cached.append(timed(cb2))
            assert cb2.real_images_extracted == 0, "cached evaluation extracted real images"
    assert all(n == args.num for n in extracted)

    # Throughput of the extractor alone (quantised images, resize to 299 included).
    x = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size), dtype=torch.uint8)
    per_batch = []
    with torch.no_grad():
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            inception(x)
            per_batch.append(time.perf_counter() - t0)
    ips = args.batch_size / statistics.median(per_batch)
    u, c = statistics.median(uncached), statistics.median(cached)

    print(
        f"\nFID evaluation, {args.num} real + {args.num} fake at {args.size} px, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats}; extractor: torchmetrics NoTrainInceptionV3 "
        "(torch-fidelity architecture, resize to 299) with RANDOM weights\n"
    )
    print("| case | time (s) | ratio to uncached | images through extractor |")
    print("|---|---:|---:|---:|")
    print(f"| uncached (real stats computed + written) | {u:.2f} | 1.00 | {2 * args.num} |")
    print(f"| cached (real stats read from disk) | {c:.2f} | {c / u:.2f} | {args.num} |")
    print(
        f"\nFeature extraction: {ips:.1f} images/s (batch {args.batch_size}); implied by uncached - cached: "
        f"{args.num / max(u - c, 1e-9):.1f} real images/s"
    )


if __name__ == "__main__":
    main()
