#!/usr/bin/env bash
# Check and smoke-test every wheel in dist/ (`make wheel-smoke`, after `make wheels`):
#
#   1. scripts/check-wheel.sh WHEEL: tags, contents (every module, the migrations as package
#      data), the extension's ELF (architecture, manylinux2014 libraries and glibc symbols);
#      for the host's architecture also a clean-venv install.
#   2. scripts/wheel_smoke.py run by an interpreter of the wheel's own architecture, with the
#      wheel installed and nothing of the source tree on sys.path: import, the Rust core's
#      transitions, a breaker, one request routed through the OpenAI SDK to the emulator.
#      - host architecture: a fresh venv, `pip install WHEEL[openai,emulator]` (runtime deps
#        from PyPI held to requirements/dev.lock); that venv also serves the emulator.
#      - the foreign one (aarch64 on x86_64): Debian's arm64 python3.11 + pip extracted by
#        mmdebstrap into a cache directory and run by qemu-user-static (`qemu-aarch64-static -L
#        ROOTFS`); its pip installs the wheel from a wheelhouse that the host's pip downloads for
#        that platform (pydantic-core and jiter have aarch64 wheels on PyPI). The emulator runs
#        on the host, on loopback.
#
# Environment: DIST=dist, CONSTRAINTS=requirements/dev.lock, CACHE=/tmp/automatosx-wheel-smoke
# (the foreign rootfs, reused between runs; delete it to start over), KEEP=1 keeps the temp dir.
# Ends with one line per wheel, PASS or FAIL; exit 1 if any failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/_wheel-tools.sh
source "$ROOT/scripts/_wheel-tools.sh"
DIST=${DIST:-$ROOT/dist}
CONSTRAINTS=${CONSTRAINTS-$ROOT/requirements/dev.lock}
CACHE=${CACHE:-/tmp/automatosx-wheel-smoke}
HOST=$(uname -m)
PYTHON=${PYTHON:-python3}

mapfile -t WHEELS < <(ls "$DIST"/automatosx-*.whl 2>/dev/null || true)
if ((${#WHEELS[@]} == 0)); then
    echo "wheel-smoke: FAIL (no wheel in ${DIST#"$ROOT"/}/: run 'make wheels' first)"
    exit 1
fi
if ! command -v readelf >/dev/null && ! ensure_debs "ELF checks of the wheels (readelf)" binutils; then
    echo "wheel-smoke: FAIL (readelf is needed to check the extension's ELF; install binutils)"
    exit 1
fi
HOST_WHEEL=""
for w in "${WHEELS[@]}"; do [[ $(wheel_arch "$w") == "$HOST" ]] && HOST_WHEEL=$w; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wheel-smoke.XXXXXX")
EMULATOR_PID=""
cleanup() {
    if [[ -n $EMULATOR_PID ]]; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true # 143: ended by our TERM
    fi
    if [[ ${KEEP:-0} == 1 ]]; then echo "(kept $TMP)"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
pip_c=()
[[ -n $CONSTRAINTS ]] && pip_c=(-c "$CONSTRAINTS")
declare -a summary=()
status=0
result() { # NAME RC
    if (($2 == 0)); then summary+=("PASS  $1"); else
        summary+=("FAIL  $1")
        status=1
    fi
}

# ---------------------------------------------------------------------------------------------
# The host venv: the host wheel with the openai and emulator extras. It runs the host smoke
# test and serves the emulator that every smoke test calls.
if [[ -z $HOST_WHEEL ]]; then
    echo "wheel-smoke: FAIL (no $HOST wheel in ${DIST#"$ROOT"/}/ to serve the emulator: run 'make wheels')"
    exit 1
fi
echo "== host venv: $(basename "$HOST_WHEEL")[openai,emulator]"
"$PYTHON" -m venv "$TMP/host"
if ! "$TMP/host/bin/python" -m pip install -q --disable-pip-version-check "${pip_c[@]}" \
    "$HOST_WHEEL[openai,emulator]" >"$TMP/host-pip.log" 2>&1; then
    cat "$TMP/host-pip.log"
    echo "wheel-smoke: FAIL (pip install of the host wheel failed)"
    exit 1
fi
PORT=$("$TMP/host/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$TMP" && exec "$TMP/host/bin/automatosx" emulate --host 127.0.0.1 --port "$PORT") \
    >"$TMP/emulator.log" 2>&1 &
EMULATOR_PID=$!
URL=http://127.0.0.1:$PORT
# Ready when it answers (any HTTP status) — at most 60 s.
if ! "$TMP/host/bin/python" - "$URL" <<'PY'; then
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(sys.argv[1] + "/", timeout=2)
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.1)
PY
    cat "$TMP/emulator.log"
    echo "wheel-smoke: FAIL (the emulator did not start on $URL)"
    exit 1
fi
echo "   emulator on $URL (pid $EMULATOR_PID)"

# ---------------------------------------------------------------------------------------------
smoke_host() { # WHEEL
    mkdir -p "$TMP/run-host"
    (cd "$TMP/run-host" && "$TMP/host/bin/python" -I "$ROOT/scripts/wheel_smoke.py" "$URL" "$HOST")
}

ensure_rootfs() { # ARCH -> prints the rootfs directory
    local arch=$1 darch rootfs
    darch=$(deb_arch "$arch")
    rootfs=$CACHE/rootfs-$darch
    ensure_debs "running $arch wheels under qemu-user" qemu-user-static mmdebstrap >&2 || return 1
    if [[ ! -x $rootfs/usr/bin/python3.11 || ! -d $rootfs/usr/lib/python3/dist-packages/pip ]]; then
        echo "   extracting Debian's $darch python3.11 + pip into $rootfs (mmdebstrap)" >&2
        rm -rf "$rootfs"
        mkdir -p "$CACHE"
        if ! mmdebstrap --quiet --variant=extract --arch="$darch" --include=python3.11,python3-pip \
            bookworm "$rootfs" >&2; then
            echo "cannot extract Debian's $darch CPython with mmdebstrap (no Debian mirror?)" >&2
            return 1
        fi
    fi
    echo "$rootfs"
}

smoke_foreign() { # WHEEL
    local wheel=$1 arch rootfs qemu site wh
    arch=$(wheel_arch "$wheel")
    qemu=qemu-$arch-static
    rootfs=$(ensure_rootfs "$arch") || return 1
    wh=$TMP/wheelhouse-$arch
    site=$TMP/site-$arch
    # The wheel and its [openai] dependencies for CPython 3.11 on manylinux aarch64, fetched by
    # the host's pip (PyPI), then installed by the foreign pip without an index.
    echo "   pip download of the runtime dependencies for manylinux $arch, CPython 3.11"
    if ! "$TMP/host/bin/python" -m pip download -q --disable-pip-version-check -d "$wh" \
        "${pip_c[@]}" --only-binary=:all: --implementation cp --python-version 3.11 \
        --abi cp311 --abi abi3 --abi none --platform "manylinux2014_$arch" \
        --platform "manylinux_2_17_$arch" --platform "manylinux_2_28_$arch" \
        "$wheel[openai]" >"$TMP/download-$arch.log" 2>&1; then
        cat "$TMP/download-$arch.log"
        echo "pip download for $arch failed"
        return 1
    fi
    local py=("$qemu" -L "$rootfs" "$rootfs/usr/bin/python3.11")
    echo "   $("${py[@]}" -c 'import platform, sys; print("CPython", platform.python_version(), "on", platform.machine(), "(Debian, under qemu-user)")')"
    echo "   the $arch pip installs $(basename "$wheel")[openai] (no index; takes a minute under qemu)"
    if ! "${py[@]}" -m pip install -q --disable-pip-version-check --no-index --find-links "$wh" \
        --no-compile --target "$site" --break-system-packages "$wheel[openai]" \
        >"$TMP/pip-$arch.log" 2>&1; then
        cat "$TMP/pip-$arch.log"
        echo "the $arch pip could not install the wheel"
        return 1
    fi
    mkdir -p "$TMP/run-$arch"
    (cd "$TMP/run-$arch" && PYTHONPATH=$site PYTHONNOUSERSITE=1 "${py[@]}" -s \
        "$ROOT/scripts/wheel_smoke.py" "$URL" "$arch")
}

for wheel in "${WHEELS[@]}"; do
    name=$(basename "$wheel")
    arch=$(wheel_arch "$wheel")
    echo
    echo "== $name"
    rc=0
    bash "$ROOT/scripts/check-wheel.sh" "$wheel" || rc=$?
    result "check-wheel  $name" $rc
    rc=0
    if [[ $arch == "$HOST" ]]; then
        smoke_host "$wheel" || rc=$?
    elif [[ $arch == "$(foreign_arch)" ]]; then
        smoke_foreign "$wheel" || rc=$?
    else
        echo "   no way to run a $arch wheel on this $HOST machine"
        rc=1
    fi
    result "smoke        $name ($arch$([[ $arch != "$HOST" ]] && echo ', qemu-user'))" $rc
done

echo
echo "wheel-smoke:"
printf '  %s\n' "${summary[@]}"
exit $status
