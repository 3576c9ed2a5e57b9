#!/usr/bin/env bash
# The GPU check, in one script: the benchmarks, then the OpenCL test suite, on a lent NVIDIA
# machine that has Python, NumPy, SciPy, PyTorch and pytest but neither pyopencl nor an OpenCL
# ICD file. pyopencl and its pure-Python needs travel as wheels in .whl/ (see docs/PERFORMANCE.md,
# "On a GPU"); NVIDIA's OpenCL library comes with the driver and is registered here.
#
#   bash benchmarks/device_check.sh OUTDIR [pytest args]   # logs: OUTDIR/{device,bench,tests}.log
set -uo pipefail
out=${1:-/tmp/device-check}
shift || true
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH=/tmp/site:$PWD
fi

# Register NVIDIA's OpenCL driver with the ICD loader inside pyopencl's wheel.
lib=$(ldconfig -p | awk '/libnvidia-opencl\.so/ {print $NF; exit}')
[ -n "$lib" ] || lib=$(find / -xdev -name 'libnvidia-opencl.so*' 2>/dev/null | head -n 1)
mkdir -p /etc/OpenCL/vendors
[ -n "$lib" ] && [ ! -e /etc/OpenCL/vendors/nvidia.icd ] && echo "$lib" > /etc/OpenCL/vendors/nvidia.icd
export OCL_ICD_VENDORS=/etc/OpenCL/vendors
{
    echo "NVIDIA OpenCL library: ${lib:-not found}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -m nodestudio devices
} 2>&1 | tee "$out/device.log"
python3 -c "import nodestudio as ns; raise SystemExit(0 if ns.devices() and \
    any(d.kind == 'gpu' for d in ns.devices()) else 1)" || { echo "no OpenCL GPU"; exit 4; }

{
    echo "== bench_gemm (MLP shapes, then square)"
    timeout 90 python3 benchmarks/bench_gemm.py --runs 10
    timeout 60 python3 benchmarks/bench_gemm.py --shape 1024 1024 1024 --shape 4096 4096 4096 \
        --batches --runs 5
    echo "== bench_mlp_step, PyTorch on the same GPU"
    timeout 120 python3 benchmarks/bench_mlp_step.py --batch 128 600 4096 --seconds 1.5 --profile \
        --torch-device cuda
    echo "== training the example MLP on mnist5k, 3 epochs"
    timeout 60 python3 -m nodestudio train resources/examples/mlp.json --data mnist5k \
        --epochs 3 --out /tmp/run-mlp
} 2>&1 | tee "$out/bench.log"

echo "== the test suite without the GUI tests (PySide6 is not installed there)"
NODESTUDIO_REQUIRE_DEVICE=1 HYPOTHESIS_PROFILE=ci timeout "${TEST_SECONDS:-300}" \
    python3 -m pytest -q -p no:cacheprovider -p no:benchmark -n "${TEST_WORKERS:-12}" --maxfail=40 \
    --ignore=tests/gui -o faulthandler_timeout=200 "$@" > "$out/tests.log" 2>&1
echo "pytest exit status $?"
grep -E "^(FAILED|ERROR)|passed|failed" "$out/tests.log" | tail -n 60
