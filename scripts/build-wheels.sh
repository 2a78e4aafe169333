#!/usr/bin/env bash
# Build every wheel this machine can build into dist/: the host's manylinux2014 abi3 wheel, the
# other Linux architecture's (x86_64 <-> aarch64) by cross-compiling, and the sdist.
#
#   bash scripts/build-wheels.sh          # `make wheels`; then `make wheel-smoke`
#
# The cross build uses Debian's Rust (rustc-web, 1.96) with the foreign architecture's standard
# library from multiarch (libstd-rust-web-dev:arm64 on an x86_64 host) and zig as the linker
# (glibc 2.17 symbols: manylinux2014); scripts/_wheel-tools.sh installs them with apt-get when
# missing (root, Debian bookworm). The host wheel uses the rustc on PATH when it is recent
# enough (rustup's), Debian's rustc-web otherwise. macOS, Windows and musllinux wheels are
# built only in CI (.github/workflows/wheels.yml; docs/guides/platforms.md says why).
#
# Environment: DIST=dist, ARCHES="x86_64 aarch64" (default: the host's and its foreign one),
# CARGO_TARGET_DIR (default target/, shared with the other builds).
# Ends with one line per artifact, "built" or "NOT BUILT: why"; exit 1 if any was not built.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/_wheel-tools.sh
source "$ROOT/scripts/_wheel-tools.sh"
DIST=${DIST:-$ROOT/dist}
HOST=$(uname -m)
ARCHES=${ARCHES:-"$HOST $(foreign_arch)"}
cd "$ROOT"

if [[ $(uname -s) != Linux ]]; then
    echo "build-wheels: this script builds Linux wheels on Linux; on $(uname -s) use 'maturin build --release'"
    exit 1
fi
command -v maturin >/dev/null || {
    echo "build-wheels: maturin not found: run 'make install' (it is in requirements/dev.lock)"
    exit 1
}
python3 -c 'import ziglang' 2>/dev/null || {
    echo "build-wheels: the ziglang package is not installed: run 'make install'"
    exit 1
}

mkdir -p "$DIST"
rm -f "$DIST"/automatosx-*.whl "$DIST"/automatosx-*.tar.gz
declare -a summary=()
status=0

build() { # ARCH
    local arch=$1 target="$1-unknown-linux-gnu" dir
    dir=$(rust_for "$target")
    if [[ -z $dir ]]; then
        local debs=(rustc-web cargo-web)
        [[ $arch != "$HOST" ]] && debs+=("libstd-rust-web-dev:$(deb_arch "$arch")")
        if ! ensure_debs "Rust for $target" "${debs[@]}"; then
            summary+=("NOT BUILT  $arch: no Rust toolchain with the $target standard library (above)")
            status=1
            return 0
        fi
        dir=$(rust_for "$target")
        if [[ -z $dir ]]; then
            summary+=("NOT BUILT  $arch: rustc-web installed, yet no rustc has the $target library")
            status=1
            return 0
        fi
    fi
    echo "== $arch: $("$dir/rustc" --version) ($dir/rustc), zig $(python3 -m ziglang version)"
    local args=(build --release --locked --zig --compatibility manylinux2014 -o "$DIST")
    [[ $arch != "$HOST" ]] && args+=(--target "$target")
    if PATH=$(toolchain_path "$dir") maturin "${args[@]}"; then
        summary+=("built      $(cd "$DIST" && ls -t automatosx-*"_$arch".whl | head -n 1)")
    else
        summary+=("NOT BUILT  $arch: maturin failed (above)")
        status=1
    fi
}

# The sdist first: outside a git checkout (a source tarball) nothing tells maturin to leave
# dist/ out, and it would pack the wheels just built.
if maturin sdist -o "$DIST"; then
    summary+=("built      $(cd "$DIST" && ls -t automatosx-*.tar.gz | head -n 1)")
else
    summary+=("NOT BUILT  sdist: maturin sdist failed (above)")
    status=1
fi
for arch in $ARCHES; do
    case $arch in
        x86_64 | aarch64) build "$arch" ;;
        *) summary+=("NOT BUILT  $arch: only x86_64 and aarch64 Linux wheels are built here") ;;
    esac
done

echo
echo "build-wheels: into ${DIST#"$ROOT"/}/"
printf '  %s\n' "${summary[@]}"
echo "Next: make wheel-smoke (checks each wheel and runs its smoke test; aarch64 under qemu-user)"
exit $status
