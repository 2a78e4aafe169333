#!/usr/bin/env bash
# Check the release artifacts in dist/ the way a user meets them: install the wheel into a
# brand-new virtual environment (runtime deps from PyPI, held to requirements/dev.lock), run
# from a directory outside the source tree, and import it. Also inspects the wheel (tag,
# contents, ELF linkage) and the sdist (everything needed to rebuild from source).
#
#   bash scripts/check-wheel.sh [WHEEL]        # default: the newest dist/automatosx-*.whl
#
# Environment:
#   PYTHON=python3        interpreter used to create the clean venv
#   DIST=dist             where the wheel and sdist are looked for
#   CONSTRAINTS=<lock>    pip constraints for the runtime deps ("" to install unconstrained)
#   EXPECT_PLATFORM=<re>  regex the wheel's platform tag must match (default on Linux:
#                         manylinux2014 for the wheel's own arch, x86_64 or aarch64)
#   STRICT=1              turn warnings (features not there yet) into failures
#   SDIST_BUILD=1         also build a wheel from the sdist in the clean venv (slow: full
#                         release build) to prove the sdist is self-contained
#   KEEP=1                keep the temp dir (venv, logs) for inspection
#
# A wheel for another architecture than this machine's (aarch64 on x86_64) gets every check but
# the clean install, which scripts/smoke-wheels.sh does under qemu-user (`make wheel-smoke`).
#
# Prints one line per check and ends with "check-wheel: PASS" or "check-wheel: FAIL"; exit 1
# on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST=${DIST:-$ROOT/dist}
PYTHON=${PYTHON:-python3}
CONSTRAINTS=${CONSTRAINTS-$ROOT/requirements/dev.lock}
STRICT=${STRICT:-0}

failures=0
warnings=0
checks=0
pass() { checks=$((checks + 1)); printf '  ok    %s\n' "$*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); printf '  FAIL  %s\n' "$*"; }
warn() {
    if [[ $STRICT == 1 ]]; then fail "$* (STRICT=1)"; else
        warnings=$((warnings + 1)); printf '  warn  %s\n' "$*"
    fi
}
note() { printf '  --    %s\n' "$*"; }
finish() {
    echo
    if ((failures)); then
        echo "check-wheel: FAIL ($failures of $checks checks failed, $warnings warnings)"
        exit 1
    fi
    echo "check-wheel: PASS ($checks checks, $warnings warnings)"
}

# ---------------------------------------------------------------------------------------------
# The artifacts
newest() { ls -t "$@" 2>/dev/null | head -n 1 || true; }
WHEEL=${1:-$(newest "$DIST"/automatosx-*.whl)}
SDIST=$(newest "$DIST"/automatosx-*.tar.gz)
if [[ -z $WHEEL || ! -f $WHEEL ]]; then
    echo "check-wheel: FAIL (no wheel: pass one or run 'make wheel' to build dist/automatosx-*.whl)"
    exit 1
fi
WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/check-wheel.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then echo "(keeping $TMP)"; else trap 'rm -rf "$TMP"' EXIT; fi

echo "check-wheel: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

# ---------------------------------------------------------------------------------------------
# 1. The filename tag: one abi3 wheel for every CPython >= 3.10.
echo "wheel tag"
IFS=- read -r _ _ py_tag abi_tag plat_tag <<<"$(basename "$WHEEL" .whl)"
# The wheel's architecture, from its platform tag; "native" when this machine can run it.
wheel_arch=$(sed -nE 's/.*_(x86_64|aarch64|armv7l|ppc64le|s390x|i686|arm64|universal2|amd64)$/\1/p' <<<"$plat_tag")
native=1
[[ $(uname -s) == Linux && -n $wheel_arch && $wheel_arch != "$(uname -m)" ]] && native=0
if [[ -z ${EXPECT_PLATFORM:-} ]]; then
    if [[ $(uname -s) == Linux ]]; then
        arch=${wheel_arch:-$(uname -m)}
        [[ $arch == x86_64 || $arch == aarch64 ]] || arch=x86_64_or_aarch64
        EXPECT_PLATFORM="manylinux_2_17_${arch}.*manylinux2014_${arch}|manylinux2014_${arch}.*manylinux_2_17_${arch}"
    else
        EXPECT_PLATFORM='.'
    fi
fi
[[ $py_tag == cp310 ]] && pass "python tag $py_tag" || fail "python tag is '$py_tag', expected cp310"
[[ $abi_tag == abi3 ]] && pass "abi tag $abi_tag" || fail "abi tag is '$abi_tag', expected abi3"
if [[ $plat_tag =~ $EXPECT_PLATFORM ]]; then pass "platform tag $plat_tag"; else
    fail "platform tag '$plat_tag' does not match /$EXPECT_PLATFORM/"
fi

# ---------------------------------------------------------------------------------------------
# 2. What is inside the wheel. Every module, stub and marker under python/automatosx must ship;
#    exactly one extension module; nothing from outside the package.
echo "wheel contents"
rc=0
"$PYTHON" - "$WHEEL" "$ROOT" "$TMP/wheel" >"$TMP/contents.log" 2>&1 <<'PY' || rc=$?
import os, re, sys, zipfile
from pathlib import Path

wheel, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
zf = zipfile.ZipFile(wheel)
names = set(zf.namelist())
dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))

def ok(msg): print(f"ok|{msg}")
def fail(msg): print(f"fail|{msg}")
def warn(msg): print(f"warn|{msg}")

for required in ("automatosx/__init__.py", "automatosx/py.typed", "automatosx/_core.pyi"):
    (ok if required in names else fail)(f"contains {required}")

ext = sorted(n for n in names if re.fullmatch(r"automatosx/_core\..*(so|pyd)", n))
if len(ext) == 1:
    ok(f"one extension module: {ext[0]} ({zf.getinfo(ext[0]).file_size // 1024} KiB)")
    if sys.platform.startswith("linux") and not ext[0].endswith(".abi3.so"):
        fail(f"{ext[0]} is not an abi3 module (expected _core.abi3.so)")
    zf.extract(ext[0], out)
    print(f"ext|{out / ext[0]}")
else:
    fail(f"expected exactly one automatosx/_core extension, found {ext or 'none'}")
stray_ext = sorted(n for n in names if re.search(r"\.(so|pyd|dylib|dll)$", n) and n not in ext)
if stray_ext:
    fail(f"stray binaries in the wheel (a 'maturin develop' leftover?): {stray_ext}")

outside = sorted(n for n in names if not n.startswith(("automatosx/", dist_info + "/")))
(fail if outside else ok)(f"nothing outside automatosx/ and {dist_info}/" + (f": {outside}" if outside else ""))
junk = sorted(n for n in names if "__pycache__" in n or n.endswith(".pyc"))
if junk:
    fail(f"bytecode in the wheel: {junk[:5]}")

src = root / "python"
expected = {
    p.relative_to(src).as_posix()
    for p in (src / "automatosx").rglob("*")
    if p.is_file() and (p.suffix in (".py", ".pyi") or p.name == "py.typed")
    and "__pycache__" not in p.parts
}
missing = sorted(expected - names)
(fail if missing else ok)(
    f"all {len(expected)} .py/.pyi/py.typed files of python/automatosx shipped"
    + (f"; missing: {missing}" if missing else "")
)

# The migrations are package data: every dialect directory of the source tree, each .sql file.
mig_root = src / "automatosx" / "migrations"
dialects = sorted(d.name for d in mig_root.iterdir() if d.is_dir()) if mig_root.is_dir() else []
if not dialects:
    fail("no migrations directory in the source tree (python/automatosx/migrations/<dialect>/)")
for dialect in dialects:
    tree = sorted(p.name for p in (mig_root / dialect).glob("*.sql"))
    shipped = sorted(
        n.rsplit("/", 1)[1] for n in names
        if n.startswith(f"automatosx/migrations/{dialect}/") and n.endswith(".sql")
    )
    missing_sql = sorted(set(tree) - set(shipped))
    extra_sql = sorted(set(shipped) - set(tree))
    if tree and not missing_sql and not extra_sql:
        ok(f"migrations/{dialect}: the tree's {len(tree)} .sql files are package data ({tree[-1]})")
    else:
        fail(f"migrations/{dialect}: missing from the wheel {missing_sql or '-'}, "
             f"not in the tree {extra_sql or '-'} (tree has {len(tree)})")

entry_points = zf.read(f"{dist_info}/entry_points.txt").decode() if f"{dist_info}/entry_points.txt" in names else ""
if re.search(r"^\[console_scripts\]\s*$(?:\n(?!\[).*)*?^automatosx\s*=\s*automatosx\.cli:main\s*$", entry_points, re.M):
    ok("entry point automatosx = automatosx.cli:main")
else:
    fail(f"no console_scripts entry 'automatosx = automatosx.cli:main' in entry_points.txt")
metadata = zf.read(f"{dist_info}/METADATA").decode()
m = re.search(r"^Requires-Python: (.*)$", metadata, re.M)
(ok if m and m.group(1).strip() == ">=3.10" else fail)(f"Requires-Python: {m.group(1) if m else None}")
for flag, module in (("has_store", "automatosx/store/__init__.py"), ("has_store", "automatosx/store.py"),
                     ("has_cli", "automatosx/cli.py"), ("has_cli", "automatosx/cli/__init__.py")):
    if module in names:
        print(f"{flag}|1")
PY
ext_path="" has_store=0 has_cli=0
while IFS='|' read -r kind msg; do
    case $kind in
        ok) pass "$msg" ;; fail) fail "$msg" ;; warn) warn "$msg" ;;
        ext) ext_path=$msg ;; has_store) has_store=1 ;; has_cli) has_cli=1 ;;
        *) printf '        %s\n' "$kind${msg:+|$msg}" ;;
    esac
done <"$TMP/contents.log"
((rc == 0)) || fail "inspecting the wheel crashed (exit $rc)"

# ---------------------------------------------------------------------------------------------
# 3. Linkage of the extension (Linux): a manylinux2014 wheel may need only the policy's system
#    libraries and glibc symbols up to 2.17; an abi3 module must not link libpython.
if [[ -n $ext_path && $(uname -s) == Linux && $plat_tag == *manylinux* ]]; then
    echo "extension linkage"
    if command -v readelf >/dev/null; then
        machine=$(readelf -h "$ext_path" | sed -n 's/^ *Machine: *//p')
        case $wheel_arch in
            x86_64) want='X86-64' ;; aarch64) want='AArch64' ;; *) want='' ;;
        esac
        if [[ -n $want && $machine == *"$want"* ]]; then pass "ELF machine: $machine ($wheel_arch)"
        elif [[ -n $want ]]; then fail "ELF machine is '$machine', the tag says $wheel_arch"
        else warn "ELF machine $machine: architecture $wheel_arch not known to this check"; fi
        allowed=' libgcc_s.so.1 libstdc++.so.6 libm.so.6 libdl.so.2 librt.so.1 libc.so.6 libnsl.so.1
                  libutil.so.1 libpthread.so.0 libresolv.so.2 libz.so.1 libexpat.so.1 '
        needed=$(readelf -d "$ext_path" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd ' ')
        bad=""
        for lib in $needed; do
            [[ $lib == ld-linux* || $allowed == *" $lib "* ]] || bad+=" $lib"
        done
        if [[ -z $bad ]]; then pass "needs only allowed libraries: $needed"; else
            fail "needs libraries outside the manylinux2014 policy:$bad"
        fi
        if readelf -d "$ext_path" | grep -q 'libpython'; then fail "links libpython (an abi3 module must not)"; else
            pass "does not link libpython"
        fi
        max_glibc=$(readelf -W --dyn-syms "$ext_path" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' \
            | sed 's/GLIBC_//' | sort -V | tail -n 1)
        if [[ -z $max_glibc ]] || [[ $(printf '%s\n2.17\n' "$max_glibc" | sort -V | tail -n 1) == 2.17 ]]; then
            pass "newest glibc symbol version: ${max_glibc:-none} (<= 2.17)"
        else
            fail "uses glibc $max_glibc symbols, newer than manylinux2014's 2.17"
        fi
    else
        warn "readelf not found: linkage not checked"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 4. A brand-new venv, the wheel and its runtime deps installed, imports run from an empty
#    directory in isolated mode (-I: no PYTHONPATH, no user site, no cwd on sys.path).
if ((!native)); then
    echo "clean install"
    note "this $wheel_arch wheel cannot run on this $(uname -m) machine: installed and run under"
    note "qemu-user by scripts/smoke-wheels.sh (make wheel-smoke) instead"
    SKIP_INSTALL=1
fi
if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
echo "clean install"
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONSAFEPATH
VENV=$TMP/venv
RUN=$TMP/run
mkdir -p "$RUN"
"$PYTHON" -m venv "$VENV"
vpy=$VENV/bin/python
[[ -x $vpy ]] || vpy=$VENV/Scripts/python.exe
pass "created venv with $("$vpy" -c 'import sys; print(sys.implementation.name, sys.version.split()[0])')"
pip_args=(-m pip install --disable-pip-version-check --quiet)
[[ -n $CONSTRAINTS ]] && pip_args+=(-c "$CONSTRAINTS")
if (cd "$RUN" && "$vpy" "${pip_args[@]}" "$WHEEL") >"$TMP/pip.log" 2>&1; then
    pass "pip install $(basename "$WHEEL")${CONSTRAINTS:+ (-c ${CONSTRAINTS#"$ROOT"/})}"
else
    cat "$TMP/pip.log"
    fail "pip install of the wheel failed"
    finish
fi
if (cd "$RUN" && "$vpy" -m pip check --disable-pip-version-check) >"$TMP/pipcheck.log" 2>&1; then
    pass "pip check: $(tail -n 1 "$TMP/pipcheck.log")"
else
    fail "pip check: $(cat "$TMP/pipcheck.log")"
fi

n_sql=$(find "$ROOT/python/automatosx/migrations/sqlite" -maxdepth 1 -name '*.sql' 2>/dev/null | wc -l)
rc=0
(cd "$RUN" && "$vpy" -I - "$ROOT" "$n_sql" "$has_store" >"$TMP/import.log" 2>&1) <<'PY' || rc=$?
import importlib, os, sys, sysconfig, traceback

root, n_sql, has_store = os.path.realpath(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
site = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}

def ok(msg): print(f"ok|{msg}")
def fail(msg): print(f"fail|{msg}")
def warn(msg): print(f"warn|{msg}")
def note(msg): print(f"note|{msg}")

def where(path):
    path = os.path.realpath(path)
    if path.startswith(root + os.sep):
        return f"the SOURCE TREE ({path})"
    for s in site:
        if path.startswith(s + os.sep):
            return "site-packages"
    return path

if any((os.path.realpath(p or os.getcwd()) + os.sep).startswith(root + os.sep) for p in sys.path):
    fail(f"the source tree is on sys.path: {sys.path}")

try:
    import automatosx
    import automatosx._core as core
except Exception:
    fail("import automatosx: " + traceback.format_exc().strip().splitlines()[-1])
    raise SystemExit
for mod in (automatosx, core):
    loc = where(mod.__file__)
    (ok if loc == "site-packages" else fail)(f"{mod.__name__} loads from {loc}: {os.path.basename(mod.__file__)}")
for stub in ("py.typed", "_core.pyi"):
    p = os.path.join(os.path.dirname(automatosx.__file__), stub)
    (ok if os.path.isfile(p) else fail)(f"installed automatosx/{stub}")

try:
    state = automatosx.ProviderStateMachine("r").state
    ok(f'ProviderStateMachine("r").state == {state!r}')
except Exception:
    fail('ProviderStateMachine("r").state: ' + traceback.format_exc().strip().splitlines()[-1])

mig_root = os.path.join(root, "python", "automatosx", "migrations")
for dialect in sorted(d for d in os.listdir(mig_root) if os.path.isdir(os.path.join(mig_root, d))):
    shipped = len([f for f in os.listdir(os.path.join(mig_root, dialect)) if f.endswith(".sql")])
    try:
        from automatosx.store.migrate import migration_files
        found = migration_files(dialect)
    except Exception:
        fail(f"migration_files({dialect!r}): " + traceback.format_exc().strip().splitlines()[-1])
    else:
        if not found or len(found) != shipped:
            fail(f"the wheel ships {len(found)} {dialect} migration(s); the tree has {shipped}")
        else:
            ok(f"the wheel ships the {len(found)} {dialect} migrations (package data)")

if has_store:
    try:
        store = importlib.import_module("automatosx.store")
        ok(f"import automatosx.store (from {where(store.__file__)})")
    except Exception:
        fail("import automatosx.store: " + traceback.format_exc().strip().splitlines()[-1])
else:
    note("automatosx.store is not a module in the wheel yet: import skipped")
PY
while IFS='|' read -r kind msg; do
    case $kind in
        ok) pass "$msg" ;; fail) fail "$msg" ;; warn) warn "$msg" ;; note) note "$msg" ;;
        *) printf '        %s\n' "$kind${msg:+|$msg}" ;;
    esac
done <"$TMP/import.log"
((rc == 0)) || fail "the import check crashed (exit $rc)"

# The console script: installed, and (once automatosx.cli ships) it runs.
script=$VENV/bin/automatosx
[[ -e $script ]] || script=$VENV/Scripts/automatosx.exe
if [[ -x $script ]]; then
    pass "console script installed: venv/${script#"$VENV"/}"
    if ((has_cli)); then
        if (cd "$RUN" && timeout 60 "$script" --help) >"$TMP/cli.log" 2>&1; then
            pass "automatosx --help exits 0"
        else
            fail "automatosx --help failed: $(tail -n 3 "$TMP/cli.log")"
        fi
        # A fresh database migrates from the installed wheel alone (migrations in _core).
        if (cd "$RUN" && timeout 60 "$script" migrate --db "$TMP/fresh.db") >"$TMP/migrate.log" 2>&1 \
            && tables=$("$vpy" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(' '.join(sorted(r[0] for r in c.execute(\"SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'\"))))" "$TMP/fresh.db") \
            && [[ $tables == *provider_requests* && $tables == *schema_migrations* ]]; then
            pass "automatosx migrate --db fresh.db from the wheel: $tables"
        else
            fail "migrating a fresh database from the wheel failed: $(tail -n 3 "$TMP/migrate.log")"
        fi
    else
        warn "automatosx.cli is not in the wheel yet: the console script cannot run (not run)"
    fi
else
    fail "console script 'automatosx' not installed in the venv"
fi

fi # SKIP_INSTALL

# ---------------------------------------------------------------------------------------------
# 5. The sdist: everything needed to rebuild the extension, and no build outputs.
echo "sdist"
if [[ -z $SDIST ]]; then
    warn "no dist/automatosx-*.tar.gz: sdist not checked ('make wheel' builds it)"
else
    note "$(basename "$SDIST") ($(du -k "$SDIST" | cut -f1) KiB)"
    tar -tzf "$SDIST" | sed 's|^[^/]*/||' | sort >"$TMP/sdist.list"
    required=(PKG-INFO pyproject.toml Cargo.toml Cargo.lock rust/lib.rs python/automatosx/__init__.py)
    [[ -f $ROOT/build.rs ]] && required+=(build.rs)
    # Every source file of the extension and the package (in a git checkout: tracked or not
    # ignored, which is what maturin's `cargo package --list` takes too).
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t sources < <(git -C "$ROOT" ls-files --cached --others --exclude-standard -- \
            rust migrations/'*.sql' python/automatosx build.rs)
    else
        mapfile -t sources < <(cd "$ROOT" && find rust migrations python/automatosx build.rs \
            -type f \( -name '*.rs' -o -name '*.sql' -o -name '*.py' -o -name '*.pyi' \
            -o -name py.typed \) 2>/dev/null)
    fi
    for f in "${sources[@]}"; do
        [[ -f $ROOT/$f && $f != build.rs ]] && required+=("$f")
    done
    missing=()
    for f in "${required[@]}"; do grep -qxF "$f" "$TMP/sdist.list" || missing+=("$f"); done
    if ((${#missing[@]})); then fail "sdist lacks: ${missing[*]}"; else
        pass "sdist has all ${#required[@]} source files (Cargo.toml/lock, rust/**, migrations/*.sql, python/automatosx/**$([[ -f $ROOT/build.rs ]] && echo ', build.rs'))"
    fi
    n_sdist_sql=$(grep -c '^migrations/.*\.sql$' "$TMP/sdist.list" || true)
    note "sdist: $(wc -l <"$TMP/sdist.list") files, $n_sdist_sql migrations/*.sql"
    junk=$(grep -E '^(dist|target|\.venv)/|\.(so|pyd|whl|pyc)$' "$TMP/sdist.list" | head -n 5 || true)
    if [[ -n $junk ]]; then fail "sdist contains build outputs: $(echo $junk)"; else
        pass "sdist has no build outputs (dist/, target/, .venv/, *.so, *.whl)"
    fi
    if [[ ${SDIST_BUILD:-0} == 1 ]]; then
        # Build isolation fetches maturin from PyPI; PIP_CONSTRAINT holds it to the lock too.
        if (cd "$RUN" && PIP_CONSTRAINT=$CONSTRAINTS CARGO_TARGET_DIR=$TMP/target \
            "$vpy" -m pip wheel --disable-pip-version-check -q --no-deps -w "$TMP/from-sdist" "$SDIST") \
            >"$TMP/sdist-build.log" 2>&1; then
            pass "pip wheel <sdist> builds: $(basename "$(ls "$TMP"/from-sdist/*.whl)")"
        else
            tail -n 20 "$TMP/sdist-build.log"
            fail "building a wheel from the sdist failed"
        fi
    fi
fi

finish
