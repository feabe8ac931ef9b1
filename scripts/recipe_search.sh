#!/usr/bin/env bash
# Recipe search on the quickstart (issue 12, part 4): every recipe tried, each a one-upsampler study run (ICNR
# pixel shuffle, seed 0) at the same budget (the quickstart's 3,072 generator steps) with the study's evaluation
# (ShapesNet FID on 1,024 test images beside the real-vs-real floor, precision, recall, the FID curve).
#   bash scripts/recipe_search.sh            # about 3 minutes a recipe on 2 cores; finished recipes are skipped
#   JOBS=2 bash scripts/recipe_search.sh     # two recipes at a time
#   bash scripts/recipe_search.sh quickstart adam_2e-3   # only these recipes, in this order (the table has all)
# Writes runs/recipes/<recipe>/ (study folders), runs/recipes/<recipe>.args and runs/recipes/table.md.
set -u
cd "$(dirname "$0")/.."
export WANDB_MODE=offline MPLBACKEND=Agg
PY=${PYTHON:-.venv/bin/python}
OUT=runs/recipes
mkdir -p "$OUT"
adam() { # adam LR BETA2: Adam with beta1 0.5 for both networks
  for net in g d; do
    echo "--model.init_args.optimizer_$net=torch.optim.Adam --model.init_args.optimizer_$net.init_args.lr=$1 --model.init_args.optimizer_$net.init_args.betas=[0.5,$2]"
  done
}
DCGAN="--model.init_args.optimizer_g=gan_upsample.lit.adversarial.dcgan_adam --model.init_args.optimizer_d=gan_upsample.lit.adversarial.dcgan_adam"
recipes=(
  "dcgan|$DCGAN"
  "dcgan_d_spectral|$DCGAN --model.init_args.discriminator.init_args.norm=spectral"
  "dcgan_d_no_norm|$DCGAN --model.init_args.discriminator.init_args.norm=none"
  "dcgan_r1|$DCGAN --model.init_args.r1_gamma=1.0"
  "dcgan_lsgan|$DCGAN --model.init_args.loss=LeastSquares"
  "dcgan_g64|$DCGAN --model.init_args.generator.init_args.base_channels=64"
  "dcgan_d_spectral_diffaugment|$DCGAN --model.init_args.discriminator.init_args.norm=spectral --model.init_args.augment=gan_upsample.nn.augment.DiffAugment"
  "adam_5e-4|$(adam 5e-4 0.999 | tr '\n' ' ')"
  "quickstart|"
  "adam_2e-3|$(adam 2e-3 0.99 | tr '\n' ' ')"
  "quickstart_diffaugment|--model.init_args.augment=gan_upsample.nn.augment.DiffAugment"
  # 8x the training images (the data are generated, so more cost nothing to download), same 3,072 steps
  "quickstart_data32k|--data.init_args.num_train=32768 --max_epochs 3"
)
if (( $# )); then # only the named recipes, in the order given
  chosen=()
  for want in "$@"; do
    found=
    for r in "${recipes[@]}"; do [[ ${r%%|*} == "$want" ]] && chosen+=("$r") && found=1; done
    [[ -n $found ]] || { echo "error: no recipe named '$want' (known: $(printf '%s ' "${recipes[@]%%|*}"))" >&2; exit 2; }
  done
  recipes=("${chosen[@]}")
fi
run() {
  local name=${1%%|*} args=${1#*|}
  echo "$args" > "$OUT/$name.args"
  echo "== $name $(date +%T)"
  # shellcheck disable=SC2086
  $PY -m gan_upsample study --base configs/quickstart.yaml --upsamplers pixel_shuffle_icnr --seeds 0 \
    --out "$OUT/$name" --data.init_args.num_val=1024 $args > "$OUT/$name.log" 2>&1
  echo "== $name rc=$? $(date +%T)"
}
export -f run; export OUT PY
printf '%s\n' "${recipes[@]}" | xargs -d '\n' -P "${JOBS:-1}" -I{} env OMP_NUM_THREADS=$(( $(nproc) / ${JOBS:-1} )) bash -c 'run "$@"' _ {}
$PY scripts/recipe_table.py "$OUT" | tee "$OUT/table.md"
