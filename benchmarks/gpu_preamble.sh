# Sourced by the GPU check scripts (benchmarks/gpu_check*.sh) after setting `name` and `default_out`: goes to the
# repository root, makes the output folder $out ($OUT or the default), defines log() and records the device.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(realpath -m "${OUT:-$default_out}")
mkdir -p "$out"
log() { echo "[$name $(date +%H:%M:%S)] $*" | tee -a "$out/gpu_check.log"; }
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))" \
    > "$out/torch.txt" 2>&1
