"""Forward+backward cost of every upsampler, as ratios to TransposedConv(k=4) measured in one run.

    python scripts/bench_upsamplers.py [--batch 16] [--channels 64] [--size 32] [--repeats 15]

Per method: the median forward+backward time over repeats (methods interleaved round-robin so that
machine noise hits all of them alike), the memory the backward pass keeps (on CUDA: the peak
allocated memory; on the CPU: the bytes of the tensors saved for backward, which is what dominates
training memory), and the multiply-add (FLOP) ratio from each layer's ``macs``. A method whose time
ratio exceeds 1.5x its FLOP ratio is flagged: it spends work it does not need.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gan_upsample.nn import upsamplers as U


class DensePixelDCL(nn.Module):
    """PixelDCL with its masked convolution computed densely on the 2H x 2W map, as the reference
    code does; same parameters and output as :class:`U.PixelDCL`, for the cost comparison only."""

    def __init__(self, layer: U.PixelDCL) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layer
        a = layer.conv_a(x)
        b = layer.conv_b(a)
        # Each phase map is padded on its own (the layer's border rule), then interleaved.
        mode = "constant" if layer.padding_mode == "zeros" else "replicate"
        a, b = F.pad(a, (1, 1, 1, 1), mode=mode), F.pad(b, (1, 1, 1, 1), mode=mode)
        zero = torch.zeros_like(a)
        m = F.pixel_shuffle(torch.stack([a, zero, zero, b], dim=2).flatten(1, 2), 2)
        r = layer.kernel_size // 2
        return m[:, :, 2:-2, 2:-2] + F.conv2d(
            m[:, :, 2 - r : m.shape[2] - 2 + r, 2 - r : m.shape[3] - 2 + r],
            layer.masked_weight * layer.mask,
            layer.shared_bias,
        )

    def macs(self, height: int, width: int) -> int:
        layer = self.layer
        dense = layer.out_channels**2 * layer.kernel_size**2 * 4 * height * width
        return layer.conv_a.macs(height, width) + layer.conv_b.macs(height, width) + dense


def methods(cin: int, cout: int) -> dict[str, Callable[[], nn.Module]]:
    return {
        "TransposedConv k4": lambda: U.TransposedConv(cin, cout, kernel_size=4),
        "TransposedConv k3": lambda: U.TransposedConv(cin, cout, kernel_size=3),
        "ResizeConv nearest": lambda: U.ResizeConv(cin, cout),
        "ResizeConv bilinear": lambda: U.ResizeConv(cin, cout, mode="bilinear"),
        "PixelShuffle ICNR": lambda: U.PixelShuffle(cin, cout),
        "PixelDCL": lambda: U.PixelDCL(cin, cout),
        "PixelDCL (dense masked conv)": lambda: DensePixelDCL(U.PixelDCL(cin, cout)),
        "iPixelDCL": lambda: U.IPixelDCL(cin, cout),
        "BilinearAdditive": lambda: U.BilinearAdditive(cin, cout),
        "FilteredUpsample": lambda: U.FilteredUpsample(cin, cout),
        "DySample": lambda: U.DySample(cin, cout),
    }


def step(module: nn.Module, x: torch.Tensor) -> None:
    y = module(x)
    y.square().mean().backward()


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass (inputs included)."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.untyped_storage().data_ptr(), t.dtype.itemsize)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(x)
    y.square().mean().backward()
    return sum(seen.values())


def peak_cuda_bytes(module: nn.Module, x: torch.Tensor) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step(module, x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def measure(
    batch: int, channels: int, size: int, repeats: int, warmup: int, device: torch.device
) -> list[dict[str, float | str]]:
    """One row per method: median forward+backward seconds, memory bytes and their ratios to TransposedConv k4.

    Also used by ``scripts/device_check.py``.
    """
    torch.manual_seed(0)
    c, s = channels, size
    mods = {name: make().to(device) for name, make in methods(c, c).items()}
    x = torch.randn(batch, c, s, s, device=device, requires_grad=True)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    for _ in range(warmup):
        for m in mods.values():
            step(m, x)
    times: dict[str, list[float]] = {name: [] for name in mods}
    for _ in range(repeats):
        for name, m in mods.items():
            sync()
            t0 = time.perf_counter()
            step(m, x)
            sync()
            times[name].append(time.perf_counter() - t0)
            m.zero_grad(set_to_none=True)
            x.grad = None
    memory = {name: (peak_cuda_bytes if device.type == "cuda" else saved_bytes)(m, x) for name, m in mods.items()}

    base = "TransposedConv k4"
    t_base = statistics.median(times[base])
    macs_base = mods[base].macs(s, s)
    rows: list[dict[str, float | str]] = []
    for name, m in mods.items():
        t = statistics.median(times[name])
        flop_ratio = m.macs(s, s) / macs_base
        rows.append(
            {
                "method": name,
                "seconds": t,
                "time_ratio": t / t_base,
                "flop_ratio": flop_ratio,
                "time_per_flop_ratio": t / t_base / flop_ratio if flop_ratio > 0 else float("nan"),
                "memory_bytes": memory[name],
                "memory_ratio": memory[name] / memory[base],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=32, help="input side; the output is twice that")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    c, s = args.channels, args.size
    rows = measure(args.batch, c, s, args.repeats, args.warmup, device)
    mem_label = "peak CUDA memory" if device.type == "cuda" else "saved-for-backward"
    print(
        f"batch {args.batch}, {c} -> {c} channels, {s}x{s} -> {2 * s}x{2 * s}, {device.type}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats} forward+backward steps\n"
    )
    print(f"| method | time (ms) | time ratio | FLOP ratio | time / FLOP ratio | {mem_label} (MB) | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        over = r["time_per_flop_ratio"]
        flag = " (over 1.5x)" if r["flop_ratio"] > 0 and over > 1.5 else ""
        print(
            f"| {r['method']} | {1e3 * r['seconds']:.2f} | {r['time_ratio']:.2f} | {r['flop_ratio']:.2f} | "
            f"{over:.2f}{flag} | {r['memory_bytes'] / 2**20:.1f} | {r['memory_ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
