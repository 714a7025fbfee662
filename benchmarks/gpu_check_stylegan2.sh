#!/usr/bin/env bash
# The one short GPU check of issue 18 (StyleGAN2 + DiffAugment, RLS Table 4), for a machine with one CUDA GPU:
#   1. benchmarks/bench_stylegan2.py on CUDA: the Table 4 iteration (batch 32, a D step with R1 and DiffAugment, a G
#      step) for gan=stylegan2 and gan=stylegan2_ada_cifar, method=vanilla and rls_discr, both modulated-conv paths:
#      s/it, the 156k-iteration time (target <= 6 h on an H100/H200) beside the FLOP/call projection;
#   2. short trainings through run.py with experiment=rls_cifar10 (DiffAugment, EMA of G, R1) on CIFAR-10-shaped
#      synthetic tensors (dataset=synthetic_cifar10: CIFAR-10 cannot be downloaded there), vanilla and rls_discr,
#      then vanilla again with trainer.compile=true (the effect of torch.compile on the call-bound iteration).
# Everything goes to $OUT (default benchmarks/gpu_results_stylegan2); each part has its own time limit, so the whole
# script stays under ~9 minutes of device time:
#     OUT=/tmp/gpu bash benchmarks/gpu_check_stylegan2.sh
name=gpu_check_stylegan2 default_out=benchmarks/gpu_results_stylegan2
source "$(dirname "$0")/gpu_preamble.sh"
log "benchmark"
timeout 200 python benchmarks/bench_stylegan2.py --device cuda --steps 30 --windows 2 --warmup 10 \
    --gans stylegan2 stylegan2_ada_cifar --methods vanilla rls_discr --modconv scaled grouped \
    --out "$out/stylegan2_bench_cuda.json" > "$out/bench_cuda.txt" 2>&1 || log "benchmark stopped (exit $?)"
train() {  # name, steps, limit, overrides...
    name=$1 steps=$2 limit=$3; shift 3
    log "training $name ($steps iterations)"
    timeout "$limit" python run.py experiment=rls_cifar10 dataset=synthetic_cifar10 metrics=none \
        trainer.steps="$steps" trainer.device=cuda trainer.ckpt_every=0 trainer.progress=false logger=none \
        hydra.run.dir="$out/$name" "$@" > "$out/$name.log" 2>&1 || log "training $name stopped (exit $?)"
}
train vanilla 2000 120 method=vanilla
train rls_discr 1000 100 method=rls_discr
train vanilla_compile 2000 150 method=vanilla trainer.compile=true
log "done"
