#!/usr/bin/env bash
# One-command set-up on a fresh machine.
#   ./bootstrap.sh run    install, then train the example MLP on the built-in MNIST subset
#   ./bootstrap.sh test   install with the test tools, then run the test suite
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

install_opencl() {
    # Debian's PoCL 3.1 runs our kernels about 5x faster than pip's PoCL build: prefer it
    # where apt is available; otherwise fall back to the pip wheel.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && \
            ! dpkg -s pocl-opencl-icd >/dev/null 2>&1; then
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pocl-opencl-icd ocl-icd-libopencl1 \
            >/dev/null || echo "bootstrap: apt could not install PoCL; trying pip's build"
    fi
}

have_device() {
    "$PYTHON" - <<'PY' 2>/dev/null
import pyopencl as cl
raise SystemExit(0 if any(p.get_devices() for p in cl.get_platforms()) else 1)
PY
}

install() {
    install_opencl
    "$PYTHON" -m pip install -q --disable-pip-version-check -e ".$1"
    if ! have_device; then
        "$PYTHON" -m pip install -q --disable-pip-version-check pocl-binary-distribution
    fi
}

case "${1:-}" in
    run)
        install ""
        shift
        "$PYTHON" -m nodestudio train resources/examples/mlp.json --data mnist5k --out runs/mlp "$@"
        ;;
    test)
        install "[test]"
        shift
        "$PYTHON" -m pytest "$@"
        ;;
    *)
        echo "usage: $0 run|test [extra arguments]" >&2
        exit 2
        ;;
esac
