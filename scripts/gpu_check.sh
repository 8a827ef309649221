#!/usr/bin/env bash
# One short GPU check: environment, real-CUDA correctness tests, then a small gpu sweep.
# Usage (on a GPU machine, from the repo root): OUT=/some/dir scripts/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  python3 -c "import sys, numpy, numba, torch; print(sys.version); print('numpy', numpy.__version__, 'numba', numba.__version__, 'torch', torch.__version__, torch.backends.cudnn.version())"
  python3 -c "import numba_cuda; print('numba-cuda', numba_cuda.__version__)" 2>&1
  python3 -c "from numba import cuda; print(cuda.is_available()); cuda.detect()" 2>&1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
echo "== real-CUDA correctness"
CONVBENCH_REAL_CUDA=1 timeout ${TEST_TIMEOUT:-150} python3 -m pytest -q -x tests/test_correctness.py -k cuda \
    -p no:cacheprovider 2>&1 | tee "$OUT/pytest.txt" | tail -30
echo "== gpu sweep (N=1 and N=32: at batch 1 a layer's ideal time is below a kernel launch)"
timeout ${SWEEP_TIMEOUT:-300} python3 -m harness sweep --preset gpu --axis N=1,32 --backends numba-cuda,torch \
    --budget-s ${BUDGET:-0.1} --repeats 1 --run-id ${RUN_ID:-example-gpu} --results-dir "$OUT/results" \
    --plots-dir "$OUT/plots" 2>&1 | tee "$OUT/sweep.txt" | tail -80
# the device tool returns a limited number of files: pack the runs
(cd "$OUT" && tar czf runs.tgz results plots && rm -rf results plots)
