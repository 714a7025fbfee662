#!/bin/bash
# Wall time of one small rls_table1 sweep (ring, grid x vanilla, bures: 4 jobs of 1000 steps, 2 seeds as replicas)
# on Hydra's joblib launcher with 2 workers against the basic launcher (one job after another), and their ratio.
# Run it on an otherwise idle machine from the repository root, with the project's environment active:
#     bash benchmarks/bench_launchers.sh [OUT_DIR]
set -u
out=${1:-$(mktemp -d)}
declare -A wall
for launcher in parallel basic; do
  jobs=$([ "$launcher" = parallel ] && echo "--jobs 2")
  start=$(date +%s.%N)
  python -m sweeps.run rls_table1 --methods vanilla bures --datasets ring grid --steps 1000 --seeds 2 \
      --launcher "$launcher" $jobs --out "$out/$launcher" --no-board logger=none > "$out/$launcher.log" 2>&1
  rc=$?
  wall[$launcher]=$(python -c "import time; print(round(time.time() - $start, 1))")
  echo "$launcher: exit $rc, ${wall[$launcher]} s wall (load $(cut -d' ' -f1-3 /proc/loadavg)); log $out/$launcher.log"
done
python -c "print(f'basic / parallel = {${wall[basic]} / ${wall[parallel]}:.2f}x on $(nproc) cores')"
