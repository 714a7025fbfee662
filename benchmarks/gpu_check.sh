#!/usr/bin/env bash
# The one short GPU check of issue 17 (SNGAN/SSGAN, seed replicas for image GANs), for a machine with one CUDA GPU:
#   1. benchmarks/bench_images.py --replicas on CUDA: every image GAN (dcgan, dcgan32, sngan32, ssgan32, sngan64,
#      ssgan64) at batch 64 with 1 and 10 replicas: s/step, steps/s, seed-steps/s, the 10-replica gain and the
#      targets (DCGAN MNIST 30k steps <= 100 s; SNGAN32 CIFAR-10 100k steps with n_dis 5 <= 1 h; 10 replicas >= 5x);
#      then dcgan and sngan32 again with bf16 autocast and with torch.compile (the speed options' effect);
#   2. a short (1,000-step) SNGAN32 training through run.py on CIFAR-10-shaped synthetic tensors (dataset=synthetic_cifar10:
#      CIFAR-10 cannot be downloaded there), with Dia-GAN's recipe (n_dis 5, linear lr decay, EMA), 1 and 10 replicas.
# Everything goes to $OUT (default benchmarks/gpu_results); each part has its own time limit, so the whole script
# stays under ~9 minutes of device time:
#     OUT=/tmp/gpu bash benchmarks/gpu_check.sh
name=gpu_check default_out=benchmarks/gpu_results
source "$(dirname "$0")/gpu_preamble.sh"
log "benchmark, default speed options"
timeout 200 python benchmarks/bench_images.py --replicas --device cuda --skip-gan --skip-umap --steps 10 \
    --windows 2 --warmup 5 > "$out/bench_cuda.md" 2>&1 || log "benchmark stopped (exit $?)"
log "benchmark, bf16 autocast"
timeout 60 python benchmarks/bench_images.py --replicas --device cuda --skip-gan --skip-umap --gans dcgan sngan32 \
    --steps 10 --windows 2 --warmup 5 --bf16 > "$out/bench_cuda_bf16.md" 2>&1 || log "bf16 stopped (exit $?)"
log "benchmark, torch.compile"
timeout 100 python benchmarks/bench_images.py --replicas --device cuda --skip-gan --skip-umap --gans dcgan sngan32 \
    --steps 10 --windows 2 --warmup 5 --compile > "$out/bench_cuda_compile.md" 2>&1 || log "compile stopped (exit $?)"
for replicas in 1 10; do
    log "SNGAN32 training on synthetic CIFAR-10-shaped data, $replicas replica(s)"
    timeout 100 python run.py dataset=synthetic_cifar10 dataset.n=50000 gan=sngan32 method=vanilla metrics=none \
        trainer.steps=1000 trainer.batch_size=64 trainer.update_scheme=alternating trainer.n_dis=5 \
        trainer.lr_decay=linear trainer.ema_decay=0.999 trainer.replicas=$replicas trainer.device=cuda \
        trainer.eval_every=0 trainer.ckpt_every=0 trainer.progress=false logger=none \
        hydra.run.dir="$out/sngan32_synthetic_r$replicas" > "$out/sngan32_synthetic_r$replicas.log" 2>&1 \
        || log "training stopped (exit $?)"
done
log "done"
