# Helpers shared by build-wheels.sh and smoke-wheels.sh (sourced, not run).
#
# Each platform's tools come from Debian's own packages (bookworm or later), installed with
# apt-get when missing; nothing is downloaded from anywhere else:
#   cross build  rustc-web + cargo-web (Rust 1.96 at /usr/bin) and libstd-rust-web-dev:<arch>
#                through multiarch (dpkg --add-architecture): the foreign target's standard
#                library, matching that rustc. zig (the ziglang wheel of requirements/dev.lock)
#                links against glibc 2.17, so the wheel is manylinux2014.
#   smoke test   qemu-user-static runs the foreign CPython; mmdebstrap extracts Debian's
#                python3.11 + pip for that architecture into a directory (no chroot, no binfmt).

# Debian's name of a machine (uname -m) and back.
deb_arch() {
    case $1 in
        x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) echo "$1" ;;
    esac
}

# The architecture a wheel is for, from its file name (…_x86_64.whl, …_aarch64.whl).
wheel_arch() {
    local plat=${1##*-}
    plat=${plat%.whl}
    plat=${plat##*.} # the last of several dotted platform tags
    case $plat in
        *_x86_64) echo x86_64 ;; *_aarch64) echo aarch64 ;; *) echo "$plat" ;;
    esac
}

# The foreign machine this host builds and smoke-tests besides its own.
foreign_arch() {
    case $(uname -m) in
        x86_64) echo aarch64 ;; aarch64) echo x86_64 ;; *) echo "" ;;
    esac
}

# ensure_debs REASON PKG...: install the Debian packages not installed yet. Returns 1 with a
# message that names what is missing, why and how to get it when they cannot be installed.
ensure_debs() {
    local reason=$1
    shift
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    local how="apt-get install ${missing[*]}"
    if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
        echo "cannot install ${missing[*]} ($reason): this is not a Debian-based machine." >&2
        echo "  Build this platform in CI (.github/workflows/wheels.yml) instead." >&2
        return 1
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo); else
            echo "cannot install ${missing[*]} ($reason): not root and no password-less sudo." >&2
            echo "  Run as root: $how" >&2
            return 1
        fi
    fi
    local arch
    for p in "${missing[@]}"; do
        if [[ $p == *:* ]]; then
            arch=${p##*:}
            if [[ $arch != "$(dpkg --print-architecture)" ]] \
                && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
                echo "(adding the $arch architecture to dpkg for $p)"
                "${sudo[@]}" dpkg --add-architecture "$arch"
            fi
        fi
    done
    echo "installing ${missing[*]} ($reason)"
    if ! "${sudo[@]}" apt-get update -q >/dev/null \
        || ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
            --no-install-recommends "${missing[@]}" >/dev/null; then
        echo "cannot install ${missing[*]} ($reason): apt-get failed." >&2
        echo "  These are Debian bookworm packages (rustc-web/cargo-web come from" >&2
        echo "  bookworm-security/updates); check the apt sources, then: $how" >&2
        return 1
    fi
}

# rust_for TARGET: print the directory of a rustc whose sysroot has TARGET's standard library
# and whose version is at least the crate's rust-version (1.85): the one on PATH first, then
# Debian's /usr/bin/rustc (rustc-web). Empty when there is none.
rust_for() {
    local target=$1 rustc sysroot version
    for rustc in "$(command -v rustc || true)" /usr/bin/rustc; do
        [[ -n $rustc && -x $rustc ]] || continue
        sysroot=$("$rustc" --print sysroot 2>/dev/null) || continue
        [[ -d $sysroot/lib/rustlib/$target/lib ]] || continue
        version=$("$rustc" --version | awk '{print $2}')
        [[ $(printf '%s\n1.85.0\n' "${version%%-*}" | sort -V | head -n 1) == 1.85.0 ]] || continue
        dirname "$rustc"
        return 0
    done
}

# toolchain_path DIR: a PATH whose cargo and rustc are DIR's, the rest (maturin, python, zig)
# as before. Links the two into a private directory so nothing else of DIR (e.g. /usr/bin's
# python3) shadows the project's virtualenv.
toolchain_path() {
    local dir=$1 bin
    bin=$(mktemp -d "${TMPDIR:-/tmp}/automatosx-rust.XXXXXX")
    ln -s "$dir/cargo" "$bin/cargo"
    ln -s "$dir/rustc" "$bin/rustc"
    [[ -x $dir/rustdoc ]] && ln -s "$dir/rustdoc" "$bin/rustdoc"
    echo "$bin:$PATH"
}
