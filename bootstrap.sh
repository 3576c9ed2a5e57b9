#!/usr/bin/env bash
# One-command set-up on a fresh machine.
#   ./bootstrap.sh run    install, then train the example MLP on the built-in MNIST subset
#   ./bootstrap.sh test   install with the test tools, then run the test suite
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

# Debian's PoCL 3.1 runs our kernels about 5x faster than pip's PoCL build: prefer it where
# apt is available (otherwise the pip wheel below). The rest are the system libraries Qt's
# wheels load (OpenGL/EGL, fonts, keyboard maps, the X11 platform plugin's xcb pieces).
APT_PACKAGES="pocl-opencl-icd ocl-icd-libopencl1 libegl1 libgl1 libfontconfig1 fonts-dejavu-core
    libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
    libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0"

install_system_packages() {
    command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || return 0
    # shellcheck disable=SC2086  (word splitting of the list is intended)
    if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
        apt-get update -qq || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES >/dev/null \
            || echo "bootstrap: apt could not install every system package; continuing"
    fi
}

have_device() {
    "$PYTHON" - <<'PY' 2>/dev/null
import pyopencl as cl
raise SystemExit(0 if any(p.get_devices() for p in cl.get_platforms()) else 1)
PY
}

install() {
    install_system_packages
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
