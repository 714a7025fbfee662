#!/bin/bash
# Wall time of one small rls_table1 sweep (ring, grid x vanilla, bures: 4 jobs of STEPS steps, default 10000, 2 seeds
# as replicas) on Hydra's joblib launcher with 2 workers against the basic launcher (one job after another), and
# their ratio (docs/launchers.md).
# Run it on an otherwise idle machine from the repository root, with the project's environment active:
#     bash benchmarks/bench_launchers.sh [OUT_DIR [STEPS]]
# Each joblib worker first imports torch and the suite (~6 s here), so jobs far shorter than that gain nothing.
set -u
out=${1:-$(mktemp -d)}
mkdir -p "$out"
steps=${2:-10000}
declare -A wall
for launcher in parallel basic; do
  jobs=$([ "$launcher" = parallel ] && echo "--jobs 2")
  start=$(date +%s.%N)
  python -m sweeps.run rls_table1 --methods vanilla bures --datasets ring grid --steps "$steps" --seeds 2 \
      --launcher "$launcher" $jobs --out "$out/$launcher" --no-board logger=none > "$out/$launcher.log" 2>&1
  rc=$?
  wall[$launcher]=$(python -c "import time; print(round(time.time() - $start, 1))")
  echo "$launcher: exit $rc, ${wall[$launcher]} s wall (load $(cut -d' ' -f1-3 /proc/loadavg)); log $out/$launcher.log"
done
python -c "print(f'basic / parallel = {${wall[basic]} / ${wall[parallel]}:.2f}x on $(nproc) cores')"
