#!/usr/bin/env bash
# One short GPU check: environment, the roof (harness peak), real-CUDA correctness tests, the numba-cuda variant
# table and launch-cost breakdown (scripts/gpu_variants.py), the tile model fitted to that table (scripts/fit_tiles.py), then the
# curated GPU sweeps (results/example-gpu*) with the fitted model.
# Usage (on a GPU machine, from the repo root): OUT=/some/dir scripts/gpu_check.sh
# Stages can be skipped: ROOF=0, TESTS=0, VARIANTS=0, SWEEPS=0. Each stage has its own timeout, so a lease of
# a few minutes always gets the files of the stages that finished; the defaults sum to 9.7 minutes
# (40+100+190+60+2x95 s), so one device call (10 minutes at most) holds the whole check. Files back: env.txt,
# pytest.txt, variants.csv, launch.csv, tile_model.json, runs.tgz (results, plots) and logs.tgz (the stages' output).
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm --format=csv
  python3 -c "import sys, numpy, numba, torch; print(sys.version); print('numpy', numpy.__version__, 'numba', numba.__version__, 'torch', torch.__version__, torch.backends.cudnn.version())"
  python3 -c "import numba_cuda; print('numba-cuda', numba_cuda.__version__)" 2>&1
  python3 -c "from numba import cuda; print(cuda.is_available()); cuda.detect()" 2>&1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if [ "${ROOF:-1}" = 1 ]; then
  echo "== the roof: harness peak (the GPU's FMA and copy roof beside the CPU's), stored where the sweeps look"
  timeout ${ROOF_TIMEOUT:-40} python3 -m harness peak --fresh --results-dir "$OUT/results" 2>&1 \
      | tee "$OUT/peak.txt" | tail -20
fi
if [ "${TESTS:-1}" = 1 ]; then
  echo "== real-CUDA correctness"
  CONVBENCH_REAL_CUDA=1 timeout ${TEST_TIMEOUT:-100} python3 -m pytest -q -x tests/test_correctness.py \
      tests/test_cuda_tiles.py -k cuda -p no:cacheprovider 2>&1 | tee "$OUT/pytest.txt" | tail -30
fi
if [ "${VARIANTS:-1}" = 1 ]; then
  echo "== variants and launch cost"
  timeout ${VARIANTS_TIMEOUT:-190} python3 scripts/gpu_variants.py --out "$OUT" --max-minutes ${VARIANTS_MINUTES:-2.5} \
      2>&1 | tee "$OUT/variants.txt" | tail -60
  nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv >> "$OUT/env.txt" 2>&1
  if [ -s "$OUT/variants.csv" ]; then
    timeout 60 python3 scripts/fit_tiles.py "$OUT/variants.csv" --write "$OUT/tile_model.json" 2>&1 | tee "$OUT/fit.txt"
  fi
fi
if [ -s "$OUT/tile_model.json" ]; then export CONVBENCH_TILE_MODEL="$OUT/tile_model.json"; fi
if [ "${SWEEPS:-1}" = 1 ]; then
  echo "== gpu sweeps: the gpu preset at N=32, Inception 3a at N=1 and 32 (with the reduction study)"
  for run in "gpu example-gpu N=32" "inception3a example-gpu-inception3a N=1,32"; do
    set -- $run
    timeout ${SWEEP_TIMEOUT:-95} python3 -m harness sweep --preset $1 --axis $3 --backends numba-cuda,torch \
        --budget-s ${BUDGET:-0.1} --repeats 1 --run-id $2 --results-dir "$OUT/results" \
        --plots-dir "$OUT/plots" 2>&1 | tee "$OUT/sweep-$1.txt" | tail -40
  done
  if [ -s "$OUT/tile_model.json" ]; then cp "$OUT/tile_model.json" "$OUT/results/example-gpu.tile-model.json"; fi
  # the device tool returns a limited number of files: pack the runs
  (cd "$OUT" && tar czf runs.tgz results plots && rm -rf results plots)
fi
(cd "$OUT" && ls peak.txt variants.txt fit.txt sweep-*.txt 2>/dev/null | xargs -r tar czf logs.tgz --remove-files)
