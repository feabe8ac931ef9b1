"""Every YAML file under ``configs/`` parses, stacks and builds what it says.

The configs are found with a glob, so a new file is covered without touching this module:

* experiment configs (``configs/*.yaml``) resolve alone with ``--print_config`` and keep every value they
  set, and build their model, data module and trainer on the CPU without touching the network
  (pretrained comparator weights are swapped for random ones: same networks, no download);
* fragments (``configs/<folder>/*.yaml``) resolve stacked on their base config, apply their values and
  leave the rest of the base untouched. The base of ``configs/<family>/`` is the first
  ``configs/<family>_*.yaml`` (e.g. ``deepsim/`` -> ``deepsim_autoencoder_natural.yaml``); the generic
  folders (``upsampler/``, ``trainer/``, ``logger/``) stack on ``quickstart.yaml``;
* each upsampler fragment, stacked on the quickstart, builds a generator made of exactly that upsampler
  with exactly the fragment's arguments (jsonargparse keeps the previous upsampler's shared arguments
  when ``class_path`` changes, so a fragment that leaves one out would silently inherit it);
* an experiment named ``dcgan_<upsampler>_<data><res>.yaml`` uses the upsampler of
  ``configs/upsampler/<upsampler>.yaml``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

from gan_upsample.cli import GanUpsampleCLI, main
from gan_upsample.data.datamodules import ImageDataModule
from gan_upsample.lit.adversarial import AdversarialModule
from gan_upsample.nn.upsamplers import Upsampler

CONFIGS = Path(__file__).parents[1] / "configs"
QUICKSTART = CONFIGS / "quickstart.yaml"
EXPERIMENTS = sorted(CONFIGS.glob("*.yaml"))
# W&B sweep definitions are not LightningCLI configs: test_sweep_runs_build checks them.
SWEEPS = sorted((CONFIGS / "sweeps").glob("*.yaml"))
FRAGMENTS = sorted(path for path in CONFIGS.glob("*/**/*.yaml") if path.parent.name != "sweeps")
UPSAMPLER_FRAGMENTS = sorted((CONFIGS / "upsampler").glob("*.yaml"))
UPSAMPLER_KEY = ("model", "init_args", "generator", "init_args", "upsampler")

# Shrinks the quickstart so that instantiating it costs milliseconds.
TINY = [
    "--model.init_args.generator.init_args.latent_dim=8",
    "--model.init_args.generator.init_args.base_channels=4",
    "--model.init_args.discriminator.init_args.base_channels=4",
]
# Builds a GPU experiment on a machine without one, and writes nothing.
ON_CPU = ["--trainer.accelerator=cpu", "--trainer.precision=32-true", "--trainer.logger=false"]


def rel(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


def base_of(fragment: Path) -> Path:
    """The config a fragment is stacked on: its family's first experiment config, else the quickstart."""
    family = sorted(CONFIGS.glob(f"{fragment.parent.name}_*.yaml"))
    return family[0] if family else QUICKSTART


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fail any attempt to open a connection (a download at parse or build time), and write under tmp_path.

    ``sys.argv`` is emptied too: LightningCLI warns when it sees pytest's own arguments beside ``args``.
    """

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access while handling a config: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])


@functools.cache
def resolve(*configs: Path) -> dict[str, Any]:
    """The config LightningCLI resolves from ``configs`` stacked in order, as ``--print_config`` prints it.

    Without a subcommand (``run=False``) LightningCLI builds one parser instead of four (fit, validate, test,
    predict), which halves the cost; ``test_fit_print_config_stacks_a_fragment`` covers the ``fit`` path.
    """
    out = io.StringIO()
    args = [*(arg for path in configs for arg in ("--config", str(path))), "--print_config"]
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        GanUpsampleCLI(args=args, run=False)
    assert exit_info.value.code in (0, None), f"--print_config of {[rel(p) for p in configs]} exited with an error"
    return yaml.safe_load(out.getvalue())


def leaves(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """``(path, value)`` of every scalar in a nested YAML tree; list items are indexed."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(tree, list) and tree and not all(isinstance(v, int | float) for v in tree):
        for i, value in enumerate(tree):
            yield from leaves(value, (*prefix, i))
    else:
        yield prefix, tree


def lookup(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def same_value(given: Any, resolved: Any, key: Any) -> bool:
    """Whether the resolved value is the one a config file gave (short class names resolve to full paths)."""
    if isinstance(resolved, dict) and "class_path" in resolved:  # `upsampler: ResizeConv`
        return same_value(given, resolved["class_path"], "class_path")
    if key == "class_path" and isinstance(given, str):
        return resolved == given or resolved.endswith("." + given)
    if isinstance(given, list | tuple) and isinstance(resolved, list | tuple):
        return list(given) == list(resolved)
    return given == resolved


def assert_applied(given: dict[str, Any], resolved: dict[str, Any], name: str) -> None:
    for path, value in leaves(given):
        try:
            found = lookup(resolved, path)
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"{name}: {'.'.join(map(str, path))} is missing from the resolved config")
        assert same_value(value, found, path[-1]), (
            f"{name}: {'.'.join(map(str, path))} is {value!r} in the file but resolves to {found!r}"
        )


def replaced_nodes(fragment: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of the nodes whose class a fragment sets: their old arguments may legitimately go."""
    return [path[:-1] for path, _ in leaves(fragment) if path and path[-1] == "class_path"]


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_configs_are_found() -> None:
    assert QUICKSTART in EXPERIMENTS
    assert len(UPSAMPLER_FRAGMENTS) >= 9
    assert {p.parent.name for p in FRAGMENTS} >= {"upsampler", "trainer", "logger"}


def test_fit_print_config_stacks_a_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    """The command users type: ``fit --config quickstart.yaml --config upsampler/pixel_dcl.yaml --print_config``."""
    fragment = CONFIGS / "upsampler" / "pixel_dcl.yaml"
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(QUICKSTART), "--config", str(fragment), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    generator = lookup(printed, UPSAMPLER_KEY[:-1])
    assert generator["upsampler"] == {
        "class_path": "gan_upsample.nn.upsamplers.PixelDCL",
        "init_args": {
            "scale_factor": 2,
            "kernel_size": 3,
            "init": "interpolation",
            "padding_mode": "replicate",
            "bias": True,
        },
    }
    quickstart_generator = lookup(load(QUICKSTART), UPSAMPLER_KEY[:-1])
    assert generator["latent_dim"] == quickstart_generator["latent_dim"]
    assert generator["base_channels"] == quickstart_generator["base_channels"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=rel)
def test_experiment_config_resolves_and_keeps_its_values(path: Path) -> None:
    resolved = resolve(path)
    assert resolved["model"]["class_path"].startswith("gan_upsample.lit.")
    assert resolved["data"]["class_path"].startswith("gan_upsample.data.")
    assert_applied(load(path), resolved, rel(path))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=rel)
def test_experiment_config_builds_on_cpu_without_download(path: Path) -> None:
    # Pretrained weights would be downloaded (or read from the torch hub cache): build with random ones.
    offline = [f"--{'.'.join(map(str, key))}=random" for key, value in leaves(resolve(path)) if value == "imagenet"]
    cli = GanUpsampleCLI(args=["--config", str(path), *ON_CPU, *offline], run=False, save_config_callback=None)
    assert isinstance(cli.model, AdversarialModule)
    assert isinstance(cli.datamodule, ImageDataModule)
    assert not (Path.cwd() / "data").exists(), "building the data module must not create or fill the data root"
    if hasattr(cli.model, "latent_dim"):  # an unconditional GAN: its generator makes images of the data's shape
        with torch.no_grad():
            image = cli.model.generator.eval()(torch.randn(2, cli.model.latent_dim))
        size = cli.datamodule.image_size
        assert image.shape == (2, cli.datamodule.channels, size, size)


@pytest.mark.parametrize("path", FRAGMENTS, ids=rel)
def test_fragment_stacks_on_its_base(path: Path) -> None:
    fragment, base = load(path), load(base_of(path))
    resolved = resolve(base_of(path), path)
    assert_applied(fragment, resolved, rel(path))
    set_by_fragment = {p for p, _ in leaves(fragment)}
    replaced = replaced_nodes(fragment)
    for base_path, value in leaves(base):
        if base_path in set_by_fragment or any(base_path[: len(node)] == node for node in replaced):
            continue
        assert same_value(value, lookup(resolved, base_path), base_path[-1]), (
            f"stacking {rel(path)} changed {rel(base_of(path))}'s {'.'.join(map(str, base_path))}"
        )


def conv_kernel_sizes(module: nn.Module) -> set[int]:
    sizes = {m.kernel_size[0] for m in module.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)}
    sizes |= {p.shape[-1] for name, p in module.named_parameters() if name == "masked_weight"}
    return sizes


@pytest.mark.parametrize("path", UPSAMPLER_FRAGMENTS, ids=rel)
def test_upsampler_fragment_builds_that_upsampler(path: Path) -> None:
    spec = lookup(load(path), UPSAMPLER_KEY)
    args = ["--config", str(QUICKSTART), "--config", str(path), *TINY, "--trainer.logger=false"]
    cli = GanUpsampleCLI(args=[*args, "--trainer.callbacks=null"], run=False, save_config_callback=None)
    generator = cli.model.generator
    upsamplers = [m for m in generator.modules() if isinstance(m, Upsampler)]
    assert upsamplers, f"{rel(path)}: the generator has no upsampler"
    for up in upsamplers:
        assert f"{type(up).__module__}.{type(up).__qualname__}" == spec["class_path"]
        for name, value in spec.get("init_args", {}).items():
            if name == "kernel_size":
                # A value inherited from the quickstart's upsampler would show here.
                assert conv_kernel_sizes(up) == {value}, f"{rel(path)}: {type(up).__name__} kernel sizes"
            elif hasattr(up, name):
                assert getattr(up, name) == value, f"{rel(path)}: {type(up).__name__}.{name}"
    output_conv = lookup(load(path), UPSAMPLER_KEY[:-1]).get("output_conv", False)
    with torch.no_grad():
        image = generator.eval()(torch.randn(2, generator.latent_dim))
    assert image.shape == (2, 3, 32, 32)
    assert isinstance(generator.stages[-2], nn.Conv2d) == output_conv


def named_upsampler(experiment: Path) -> Path | None:
    """``configs/upsampler/<u>.yaml`` for ``dcgan_<u>_<data>.yaml`` (the longest matching name)."""
    matches = [f for f in UPSAMPLER_FRAGMENTS if experiment.stem.startswith(f"dcgan_{f.stem}_")]
    return max(matches, key=lambda f: len(f.stem), default=None)


DCGAN_EXPERIMENTS = [p for p in EXPERIMENTS if p.stem.startswith("dcgan_")]


@pytest.mark.parametrize("path", DCGAN_EXPERIMENTS, ids=rel)
def test_experiment_uses_the_upsampler_its_name_says(path: Path) -> None:
    fragment = named_upsampler(path)
    assert fragment is not None, f"{path.name} should be dcgan_<upsampler>_<data><res>.yaml with a known upsampler"
    experiment = lookup(resolve(path), UPSAMPLER_KEY[:-1])
    swapped = lookup(resolve(QUICKSTART, fragment), UPSAMPLER_KEY[:-1])
    assert experiment["upsampler"] == swapped["upsampler"]
    assert experiment["output_conv"] == swapped["output_conv"]


def test_changing_class_path_keeps_shared_init_args(tmp_path: Path) -> None:
    """Pins the jsonargparse behaviour that makes fragments spell out every argument (configs/README.md).

    If this starts failing, jsonargparse resets ``init_args`` on a class change: update the README.
    """
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    node = "model:\n  init_args:\n    generator:\n      init_args:\n        upsampler:\n"
    first.write_text(node + "          class_path: TransposedConv\n          init_args:\n            kernel_size: 5\n")
    second.write_text(node + "          class_path: PixelDCL\n")
    upsampler = lookup(resolve(QUICKSTART, first, second), UPSAMPLER_KEY)
    assert upsampler["class_path"] == "gan_upsample.nn.upsamplers.PixelDCL"
    assert upsampler["init_args"]["kernel_size"] == 5  # inherited from TransposedConv, not PixelDCL's default 3


@pytest.mark.parametrize("path", SWEEPS, ids=rel)
def test_sweep_runs_build(path: Path) -> None:
    """Every value of a W&B sweep gives a command line that builds (``${args}`` expanded as the agent does)."""
    from gan_upsample.fragments import expand_upsampler_option

    sweep = load(path)
    command = sweep["command"]
    assert command[:5] == ["${env}", "python", "-m", "gan_upsample", "fit"] and command[-1] == "${args}"
    base = list(command[5:-1])
    params = sweep["parameters"]
    first = {name: spec["values"][0] for name, spec in params.items()}
    runs = [{**first, name: value} for name, spec in params.items() for value in spec["values"]]
    for run in runs:
        args = [str(CONFIGS.parent / a) if a.endswith(".yaml") else a for a in base]
        args += [f"--{name}={value}" for name, value in run.items()]
        args = expand_upsampler_option(args)
        offline = [
            f"--{'.'.join(map(str, key))}=random"
            for key, value in leaves(resolve(Path(args[1])))
            if value == "imagenet"
        ]
        cli = GanUpsampleCLI(args=[*args, *ON_CPU, *offline], run=False, save_config_callback=None)
        assert isinstance(cli.model, AdversarialModule)
        if "model.init_args.loss" in run:
            assert type(cli.model.loss).__name__ == run["model.init_args.loss"]
