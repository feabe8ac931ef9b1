"""Compare upsamplers under one experiment config: same budget, seeds and evaluation protocol (issue 7).

    python scripts/compare_upsamplers.py [--base configs/quickstart.yaml] [--seeds 0 1] \\
        [--out runs/study/shapes] [--max_epochs 4] [--upsamplers resize_conv transposed_conv_k3 ...] [--key=value ...]

The same command as ``python -m gan_upsample study``: it runs the grid of ``configs/sweeps/upsamplers.yaml``
(the W&B sweep's upsamplers, seeds and experiment; ``--base``, ``--upsamplers`` and ``--seeds`` replace them),
trains every (upsampler fragment, seed) with the normal ``fit`` and evaluates it with the normal ``test`` (one
process per run, :mod:`gan_upsample.studies.fit_and_test`), skips runs that finished in an earlier call, and
writes ``results.csv``, ``summary.csv``, ``summary.md``, ``samples.png`` and ``spectra.png`` to ``--out``.
Unknown ``--key=value`` options go to every ``fit``. ``--help`` lists the study's own options; the module
docstring of :mod:`gan_upsample.studies.compare` describes the protocol.
"""

from gan_upsample.studies.compare import main

if __name__ == "__main__":
    raise SystemExit(main())
