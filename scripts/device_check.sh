#!/usr/bin/env bash
# Every GPU check of gan_upsample in one run of at most 8 minutes on one GPU, as a Markdown report:
# training throughput of GANModule vs a plain PyTorch loop (DCGAN-64: fp32, bf16, bf16 + channels_last,
# + compile; peak memory; the cost of host syncs), every upsampler vs TransposedConv, FID extraction speed,
# and a quickstart fit through the CLI with configs/trainer/gpu.yaml. The logic is scripts/device_check.py
# (its docstring says what is measured and how); without CUDA it runs a tiny smoke version.
#
#   scripts/device_check.sh [REPORT.md] [more device_check.py options]
#
# REPORT.md defaults to $OUT/device_report.md (or ./device_report.md without $OUT). The Python sections
# share a 420 s budget; `timeout` stops the whole run at 470 s, and the report is rewritten after every
# section, so a stopped run still leaves what it measured. Exit status: 0 when every section that ran
# succeeded, 1 when one failed (its error is in the report), 124 on the timeout.
#
# Needs the project's Python dependencies. On a machine that has torch and lightning but not the rest
# (jsonargparse, docstring-parser, typeshed-client, torch-fidelity), install their wheels first; the
# script names what is missing before it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
report="${1:-${OUT:-.}/device_report.md}"
shift || true
PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
export WANDB_MODE="${WANDB_MODE:-offline}" MPLBACKEND="${MPLBACKEND:-Agg}" PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
missing=$("$PY" - <<'PY'
import importlib.util
need = ["torch", "lightning", "torchmetrics", "torch_fidelity", "jsonargparse", "docstring_parser", "typeshed_client", "yaml"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
    echo "device_check: missing Python packages: $missing (install them, e.g. from wheels, and run again)" >&2
    exit 2
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
timeout 470 "$PY" scripts/device_check.py --out "$report" "$@"
