"""Nothing is lost when a run dies: SIGKILL at any moment, Ctrl-C, and the quickstart's checkpoint retention.

The kill tests run the real command, ``python -m gan_upsample fit``, in a subprocess on the tiny quickstart.
A full disk is tested in ``tests/test_plugins.py`` (``AtomicCheckpointIO``).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gan_upsample.checkpoints import check_checkpoint
from gan_upsample.cli import main

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
#: A fit that never ends by itself: one batch per epoch, no validation, every step logged.
ENDLESS = [
    "--data.init_args.num_train=32",
    "--data.init_args.num_val=16",
    "--trainer.limit_val_batches=0",
    "--trainer.max_epochs=100000",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.logger.init_args.save_dir=runs",
    "--trainer.logger.init_args.version=0",
]
RUN = Path("runs", "quickstart", "version_0")
TIMEOUT = 120.0  # seconds for a subprocess to reach a checkpoint; generous for a loaded machine


def fragment(folder: Path, name: str, callbacks: str) -> Path:
    """A config fragment that replaces the quickstart's callbacks with ``callbacks`` (YAML list items)."""
    path = folder / f"{name}.yaml"
    path.write_text(f"trainer:\n  callbacks:\n{callbacks}")
    return path


#: last.ckpt and the two newest others, every step.
EVERY_STEP = (
    "    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
    "      init_args: {save_last: true, save_top_k: 2, monitor: step, mode: max, every_n_train_steps: 1}\n"
)
#: The quickstart's checkpoints, none periodic within the test, and the Ctrl-C callback.
ON_INTERRUPT = (
    "    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
    "      init_args: {save_last: true, every_n_epochs: 100000}\n"
    "    - class_path: gan_upsample.callbacks.SaveOnInterrupt\n"
)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_fit(cwd: Path, *args: str, sigint_ignored: bool = False) -> subprocess.Popen[bytes]:
    """``fit`` in a subprocess; ``sigint_ignored`` starts it as a shell starts a background job (SIGINT ignored)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    stderr = open(cwd / "stderr.txt", "wb")  # noqa: SIM115 - the child owns it
    with stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "gan_upsample", "fit", "--config", QUICKSTART, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], cwd: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"fit exited early ({proc.returncode}):\n{(cwd / 'stderr.txt').read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no checkpoint within {TIMEOUT} s:\n{(cwd / 'stderr.txt').read_text()[-3000:]}")
        time.sleep(0.05)


def _logged_steps(metrics: Path) -> int:
    """Rows of ``metrics.csv`` with a logged training value (0 while the file is missing or only a header)."""
    if not metrics.is_file():
        return 0
    return sum(1 for line in metrics.read_text().splitlines()[1:] if line.strip())


def global_step(path: Path) -> int:
    """The checkpoint's global step, -1 while there is none (the file is replaced atomically, never half-written)."""
    if not path.is_file():
        return -1
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_last_ckpt_that_loads_and_resumes(
    tmp_path: Path, tiny_quickstart: list[str]
) -> None:
    every_step = fragment(tmp_path, "every_step", EVERY_STEP)
    last = tmp_path / RUN / "checkpoints" / "last.ckpt"
    delays = [random.Random(seed).uniform(0.0, 1.0) for seed in range(3)]  # seeded: a failure can be replayed
    step = -1
    for i, delay in enumerate(delays):
        resume = [f"--ckpt_path={last}"] if i else []
        proc = start_fit(tmp_path, "--config", str(every_step), *tiny_quickstart, *ENDLESS, *resume)
        try:
            previous = step
            # For a resumed run, a newer last.ckpt means the resume loaded the old one and trained on.
            wait_for(lambda previous=previous: global_step(last) > previous, proc, tmp_path)
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        step = global_step(last)  # loads: the kill never leaves a truncated last.ckpt
        assert step > previous, (i, delay)
    check_checkpoint(last)
    for ckpt in last.parent.glob("*.ckpt"):
        check_checkpoint(ckpt)  # every visible checkpoint is whole; temporary files are hidden (.<name>.*.tmp)
    assert all(p.name.startswith(".") for p in last.parent.iterdir() if not p.name.endswith(".ckpt"))


@pytest.mark.slow
@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["foreground", "background-job"])
def test_ctrl_c_saves_last_ckpt_and_prints_one_line_saying_how_to_resume(
    tmp_path: Path, tiny_quickstart: list[str], sigint_ignored: bool
) -> None:
    """Also for a run started as a background job (``cmd &`` in a script), which inherits SIGINT ignored."""
    last = tmp_path / RUN / "checkpoints" / "last.ckpt"
    on_interrupt = fragment(tmp_path, "on_interrupt", ON_INTERRUPT)
    proc = start_fit(tmp_path, "--config", str(on_interrupt), *tiny_quickstart, *ENDLESS, sigint_ignored=sigint_ignored)
    try:
        # Training is under way: a logged training step (not only the file, which setup may create).
        wait_for(lambda: _logged_steps(tmp_path / RUN / "metrics.csv") > 0, proc, tmp_path)
        assert not last.exists()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"fit still running {TIMEOUT} s after Ctrl-C:\n{(tmp_path / 'stderr.txt').read_text()[-3000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "stderr.txt").read_text()
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted at")]
    assert len(lines) == 1, stderr[-3000:]
    pattern = (
        r"interrupted at generator step (\d+); resume with: python -m gan_upsample fit "
        r"--config (\S+/config\.yaml) --ckpt_path (\S+/last\.ckpt) --trainer\.logger\.init_args\.version=0"
    )
    match = re.fullmatch(pattern, lines[0])
    assert match, lines[0]
    assert Path(match[2]) == RUN / "config.yaml" and Path(match[3]) == RUN / "checkpoints" / "last.ckpt"
    saved = torch.load(tmp_path / match[3], map_location="cpu", weights_only=False)
    assert saved["gan_upsample"]["counters"]["g_steps"] == int(match[1]) > 0
    assert "Traceback" not in stderr


def test_quickstart_keeps_last_ckpt_and_two_others(tmp_path: Path, tiny_quickstart: list[str]) -> None:
    main(
        ["fit", "--config", QUICKSTART, *tiny_quickstart]
        + ["--data.init_args.num_train=32", "--data.init_args.num_val=16", "--trainer.max_epochs=8"]
        + ["--trainer.log_every_n_steps=1", "--trainer.enable_progress_bar=false"]
        + [f"--trainer.logger.init_args.save_dir={tmp_path}"]
    )
    folder = tmp_path / "quickstart" / "version_0" / "checkpoints"
    # One generator step per epoch, a checkpoint every second epoch (steps 2, 4, 6, 8): the newest two stay.
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=5-step=6.ckpt", "epoch=7-step=8.ckpt", "last.ckpt"]
    assert global_step(folder / "last.ckpt") == global_step(folder / "epoch=7-step=8.ckpt")
