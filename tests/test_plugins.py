"""Tests of AtomicCheckpointIO: round trip, an interrupted save keeps the previous file, Trainer plugin use."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from torch.testing import assert_close

from gan_upsample.errors import CheckpointError, ConfigError
from gan_upsample.plugins import STALE_AFTER_S, AtomicCheckpointIO


def checkpoint(value: float) -> dict[str, Any]:
    return {"state_dict": {"w": torch.full((16, 16), value)}, "global_step": int(value)}


def test_round_trip_creates_missing_folders(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "deep" / "er" / "a.ckpt"
    io.save_checkpoint(checkpoint(3.0), path)
    loaded = io.load_checkpoint(path)
    assert loaded["global_step"] == 3
    assert_close(loaded["state_dict"]["w"], torch.full((16, 16), 3.0))
    assert os.listdir(path.parent) == ["a.ckpt"]


def test_overwrite_replaces_the_file(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "a.ckpt"
    io.save_checkpoint(checkpoint(1.0), path)
    io.save_checkpoint(checkpoint(2.0), str(path))
    assert io.load_checkpoint(path)["global_step"] == 2
    assert os.listdir(tmp_path) == ["a.ckpt"]


def test_a_save_removes_the_temporary_files_a_killed_save_left(tmp_path: Path) -> None:
    """A SIGKILL mid-save leaves ``.<name>.<random>.tmp`` (nothing can remove it then): the next save does."""
    own = [tmp_path / ".last.ckpt.0123456789ab.tmp", tmp_path / ".last.ckpt.ba9876543210.tmp"]
    other_old = tmp_path / ".epoch=1-step=8.ckpt.aaaaaaaaaaaa.tmp"
    other_new = tmp_path / ".epoch=2-step=16.ckpt.bbbbbbbbbbbb.tmp"  # might be another writer's, in progress
    unrelated = [tmp_path / ".notes.txt.cccccccccccc.tmp", tmp_path / "keep.ckpt"]
    for path in [*own, other_old, other_new, *unrelated]:
        path.write_bytes(b"partial")
    past = os.path.getmtime(other_new) - STALE_AFTER_S - 60
    os.utime(other_old, (past, past))
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), tmp_path / "last.ckpt")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["last.ckpt", other_new.name, *(p.name for p in unrelated)])


@pytest.mark.parametrize("error", [RuntimeError("killed mid-save"), KeyboardInterrupt()])
def test_interrupted_save_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), path)
    before = path.read_bytes()
    real_save = torch.save

    def save_then_fail(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        f.truncate(100)  # some bytes reached the disk, then the process died
        raise error

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(type(error)):
        io.save_checkpoint(checkpoint(2.0), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.ckpt"]
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1


def test_streams_to_a_synced_temp_file_in_the_target_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lightning's own save buffers the whole checkpoint in memory and stages it in the system temp folder,
    # which may be another file system (then the final move is a non-atomic copy). Ours must not.
    events: list[tuple[str, Any]] = []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_replace(src: Any, dst: Any) -> None:
        events.append(("replace", (Path(src), Path(dst))))
        real_replace(src, dst)

    def spy_fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", spy_replace)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    target = tmp_path / "a.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), target)
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["fsync", "replace"]  # data synced before the rename; then the folder
    assert events[0][1] == target.stat().st_size
    src, dst = events[1][1]
    assert dst == target and src.parent == tmp_path and src.name.endswith(".tmp") and src.name.startswith(".a.ckpt")


def test_file_mode_follows_the_umask_like_a_plain_open(tmp_path: Path) -> None:
    AtomicCheckpointIO().save_checkpoint(checkpoint(0.0), tmp_path / "a.ckpt")
    (tmp_path / "plain").write_bytes(b"")
    assert stat.S_IMODE((tmp_path / "a.ckpt").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_storage_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="storage_options"):
        AtomicCheckpointIO().save_checkpoint(checkpoint(0.0), tmp_path / "a.ckpt", storage_options={"x": 1})


def test_remote_paths_fall_back_to_lightning_save() -> None:
    io = AtomicCheckpointIO()
    io.save_checkpoint(checkpoint(5.0), "memory://atomic-io-test/a.ckpt")
    assert io.load_checkpoint("memory://atomic-io-test/a.ckpt")["global_step"] == 5
    io.remove_checkpoint("memory://atomic-io-test/a.ckpt")


def test_works_as_trainer_plugin(tmp_path: Path) -> None:
    class CountingIO(AtomicCheckpointIO):
        def __init__(self) -> None:
            super().__init__()
            self.saves: list[str] = []

        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
            self.saves.append(Path(path).name)
            super().save_checkpoint(checkpoint, path, storage_options)

    io = CountingIO()
    trainer = pl.Trainer(
        max_steps=3,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        plugins=[io],
        callbacks=[ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, save_last=True)],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(BoringModel())
    assert trainer.strategy.checkpoint_io is io
    assert "epoch=0-step=3.ckpt" in io.saves and "last.ckpt" in io.saves
    assert sorted(os.listdir(tmp_path)) == [
        "epoch=0-step=1.ckpt",
        "epoch=0-step=2.ckpt",
        "epoch=0-step=3.ckpt",
        "last.ckpt",
    ]
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 3


class _FullDisk:
    """A binary file whose writes fail with ENOSPC once ``room`` bytes are written, like a full disk."""

    def __init__(self, file: Any, room: int) -> None:
        self._file, self._room = file, room

    def write(self, data: Any) -> int:
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()


@pytest.mark.parametrize("room", [0, 2000])
def test_no_space_left_keeps_the_previous_checkpoint_and_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), path)
    before = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k), room))
    with pytest.raises(CheckpointError) as info:
        io.save_checkpoint(checkpoint(2.0), path)
    monkeypatch.undo()
    message = str(info.value)
    assert str(path) in message and "no space left on device" in message
    assert "the checkpoints already saved are intact" in message and "free space" in message and "save_dir" in message
    assert isinstance(info.value, OSError) and info.value.exit_code == 1
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["last.ckpt"]
    assert io.load_checkpoint(path)["global_step"] == 1


def test_a_failure_that_is_not_the_disk_keeps_its_own_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="Input/output error") as info:
        AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), tmp_path / "a.ckpt")
    assert not isinstance(info.value, CheckpointError)


def test_trainer_resuming_from_a_damaged_checkpoint_gets_the_checkpoint_error(tmp_path: Path) -> None:
    def trainer() -> pl.Trainer:
        return pl.Trainer(
            max_steps=2,
            limit_val_batches=0,
            accelerator="cpu",
            logger=False,
            plugins=[AtomicCheckpointIO()],
            callbacks=[ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, save_last=True)],
            enable_progress_bar=False,
            enable_model_summary=False,
        )

    trainer().fit(BoringModel())
    last = tmp_path / "last.ckpt"
    last.write_bytes(last.read_bytes()[:-50])
    with pytest.raises(CheckpointError) as info:
        trainer().fit(BoringModel(), ckpt_path=last)
    assert "truncated" in str(info.value) and str(tmp_path / "epoch=0-step=2.ckpt") in str(info.value)
    with pytest.raises(ConfigError, match=r"nope\.ckpt \(--ckpt_path\) does not exist"):
        trainer().fit(BoringModel(), ckpt_path=tmp_path / "nope.ckpt")


def test_fit_stops_with_the_checkpoint_error_when_the_disk_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FillsUp(pl.Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
            if trainer.global_step == 2:  # after the checkpoint of step 1: every later write finds the disk full
                real_fdopen = os.fdopen
                monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k), 100))

    trainer = pl.Trainer(
        max_steps=5,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        plugins=[AtomicCheckpointIO()],
        callbacks=[FillsUp(), ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1, save_top_k=1, save_last=True)],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(CheckpointError, match=r"step=2\.ckpt: no space left on device; the checkpoints already saved"):
        trainer.fit(BoringModel())
    monkeypatch.undo()
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 1
