#!/usr/bin/env bash
# Recipe search on the quickstart (issue 12, part 4): one study run per recipe (ICNR pixel shuffle, seed 0),
# the quickstart's budget, the study's evaluation (RandomCNN FID + real-vs-real floor, precision/recall,
# checkerboard). Writes runs/recipes/<recipe>/summary.md and samples.png. About 2 minutes a recipe on 2 cores.
cd "$(dirname "$0")/.."
export WANDB_MODE=offline MPLBACKEND=Agg
mkdir -p runs/recipes
run() { name=$1; shift; echo "== $name $(date +%T)"; timeout 1500 ${PYTHON:-.venv/bin/python} -m gan_upsample study --base configs/quickstart.yaml --upsamplers pixel_shuffle_icnr --seeds 0 --out runs/recipes/$name "$@" > runs/recipes/$name.log 2>&1; echo "rc=$? $(date +%T)"; }
run baseline
run hinge_sn --model.init_args.loss=Hinge --model.init_args.discriminator.init_args.norm=spectral
run r1 --model.init_args.r1_gamma=1.0
run ttur --model.init_args.optimizer_g=torch.optim.Adam --model.init_args.optimizer_g.init_args.lr=1e-4 "--model.init_args.optimizer_g.init_args.betas=[0.5,0.999]" --model.init_args.optimizer_d=torch.optim.Adam --model.init_args.optimizer_d.init_args.lr=4e-4 "--model.init_args.optimizer_d.init_args.betas=[0.5,0.999]"
run wide64 --model.init_args.generator.init_args.base_channels=64 --model.init_args.discriminator.init_args.base_channels=64
echo DONE
