#!/usr/bin/env bash
# The GPU half of docs/accuracy.md's MACE comparison, for a machine lent with one CUDA GPU and no
# network. In parallel, each in its own process:
#   - MACE 64x0e+64x1o with its documented recipe, all 60 epochs, on the aspirin frames
#     (bench/accuracy_vs_mace.py --train-only --mace-device cuda): MACE's full-recipe accuracy,
#     hours of training on a 2-core CPU;
#   - the same on the ethanol-pbe frames (800 training frames, split seed 0);
#   - equipot's paper preset (md17, L_max 2) on the aspirin frames with `equipot train`'s
#     defaults, for MINUTES of wall-clock time.
# Evaluation and MD timing then run on the CPU with the same bench, which reuses the trained models.
#
#   bash bench/gpu_training.sh OUT [MINUTES]
#
# Python needs torch with CUDA, h5py, pyyaml, tqdm and matplotlib; wheels (Python 3.12) of ase,
# matscipy and e3nn go in .whl/eq, of mace-torch 0.3.16 and its pins (e3nn 0.4.4, torch-ema,
# ConfigArgParse, GitPython, gitdb, smmap, prettytable, wcwidth, python-hostlist, lmdb, orjson,
# opt-einsum-fx) in .whl/mace.
set -euo pipefail
out=${1:?usage: bench/gpu_training.sh OUT [MINUTES]}
minutes=${2:-7}
mkdir -p "$out"
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$@"; }
pipi /tmp/site_eq .whl/eq/*.whl
pipi /tmp/site_mace .whl/mace/*.whl .whl/eq/ase-*.whl .whl/eq/matscipy-*.whl
mkdir -p /tmp/macebin
printf '#!/bin/sh\nPYTHONPATH=/tmp/site_mace exec python3 "$@"\n' >/tmp/macebin/python
printf '#!/bin/sh\nPYTHONPATH=/tmp/site_mace exec python3 -m mace.cli.run_train "$@"\n' >/tmp/macebin/mace_run_train
chmod +x /tmp/macebin/*
export PYTHONPATH=/tmp/site_eq PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
limit=$((minutes * 60 + 60))  # MACE past this is stopped; its checkpoints come back
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, e3nn; print('torch', torch.__version__, 'e3nn', e3nn.__version__, torch.cuda.is_available())"

mace() {  # NAME, then bench arguments
    local name=$1; shift
    timeout "$limit" python3 bench/accuracy_vs_mace.py --mace-python /tmp/macebin/python --mace-device cuda --presets --train-only \
        --out "runs/gpu_$name" "$@" >"$out/$name.log" 2>&1 || echo "MACE $name failed" >>"$out/$name.log"
}
mace aspirin &
mace ethanol --data datasets/ethanol_dft/ethanol_pbe_def2svp.h5 --hot '' --train 800 --val 50 --test 150 &
python3 -m equipot train equipot/models/aspirin-gfn2-small.yaml --set out=runs/gpu_aspirin_md17 \
    "model={preset: md17}" device=cuda num_threads=4 progress=false time_limit_minutes="$minutes" \
    >"$out/md17.log" 2>&1 || echo "equipot md17 failed" >>"$out/md17.log" &
wait
for name in aspirin ethanol; do
    tar -C runs/gpu_$name -czf "$out/mace_$name.tgz" --exclude=mace_compiled.model --exclude='*.xyz' \
        $( [ -f runs/gpu_$name/mace.model ] && echo --exclude=checkpoints ) .
done
cp runs/gpu_aspirin_md17/best.pt "$out/md17_best.pt" 2>/dev/null || true
cp runs/gpu_aspirin_md17/metrics.csv "$out/md17_metrics.csv" 2>/dev/null || true
ls -la "$out"
