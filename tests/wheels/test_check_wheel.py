"""scripts/check-wheel.sh on wheels assembled from the source tree and the built extension.

Pins what the script checks without a slow release build: the migrations are package data,
found by listing the source tree (a new file or a new dialect directory is checked without
editing the script), and the extension's ELF machine must match the wheel's platform tag, whose
expected value follows the wheel's own architecture (an aarch64 wheel checked on x86_64). The
clean-venv install is left out (SKIP_INSTALL=1): `make wheel` / `make wheel-smoke` run it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "automatosx"
CHECK = "scripts/check-wheel.sh"
MACHINE = platform.machine()
OTHER = {"x86_64": "aarch64", "aarch64": "x86_64"}.get(MACHINE, "aarch64")
ELF_NAME = {"x86_64": "X86-64", "aarch64": "AArch64"}

pytestmark = pytest.mark.skipif(
    shutil.which("readelf") is None or os.name != "posix",
    reason="check-wheel.sh's ELF checks need readelf (binutils) on Linux",
)


def _extension() -> Path:
    found = sorted(PACKAGE.glob("_core*.so"))
    assert found, "no built automatosx/_core*.so: build the extension first (make build-dev)"
    return found[0]


def _wheel(out: Path, arch: str, drop: tuple[str, ...] = ()) -> Path:
    """A wheel of the current tree tagged for ``arch`` (minus the archive names in ``drop``)."""
    plat = f"manylinux2014_{arch}.manylinux_2_17_{arch}"
    path = out / f"automatosx-0.1.0-cp310-abi3-{plat}.whl"
    dist = "automatosx-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(PACKAGE.rglob("*")):
            arc = p.relative_to(PACKAGE.parent).as_posix()
            keep = p.suffix in (".py", ".pyi", ".sql") or p.name == "py.typed"
            if p.is_file() and keep and "__pycache__" not in p.parts and arc not in drop:
                zf.write(p, arc)
        zf.write(_extension(), "automatosx/_core.abi3.so")
        zf.writestr(
            f"{dist}/METADATA",
            "Metadata-Version: 2.4\nName: automatosx\nVersion: 0.1.0\nRequires-Python: >=3.10\n",
        )
        zf.writestr(
            f"{dist}/entry_points.txt", "[console_scripts]\nautomatosx = automatosx.cli:main\n"
        )
        zf.writestr(
            f"{dist}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp310-abi3-{plat}\n"
        )
    return path


def _check(root: Path, wheel: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SKIP_INSTALL": "1", "DIST": str(wheel.parent), "STRICT": "0"}
    return subprocess.run(
        ["bash", str(root / CHECK), str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _sql(dialect: str) -> list[str]:
    return sorted(p.name for p in (PACKAGE / "migrations" / dialect).glob("*.sql"))


def test_every_migration_of_every_dialect_is_checked_as_package_data(tmp_path: Path) -> None:
    result = _check(ROOT, _wheel(tmp_path, MACHINE))
    dialects = sorted(d.name for d in (PACKAGE / "migrations").iterdir() if d.is_dir())
    assert {"sqlite", "postgresql"} <= set(dialects)
    for dialect in dialects:
        files = _sql(dialect)
        assert (
            f"ok    migrations/{dialect}: the tree's {len(files)} .sql files are package data "
            f"({files[-1]})" in result.stdout
        ), result.stdout


def test_a_migration_missing_from_the_wheel_fails_naming_it(tmp_path: Path) -> None:
    last = _sql("sqlite")[-1]
    result = _check(ROOT, _wheel(tmp_path, MACHINE, drop=(f"automatosx/migrations/sqlite/{last}",)))
    assert result.returncode == 1
    assert f"FAIL  migrations/sqlite: missing from the wheel ['{last}']" in result.stdout
    assert "check-wheel: FAIL" in result.stdout


def test_a_new_dialect_in_the_tree_is_checked_without_editing_the_script(tmp_path: Path) -> None:
    # A copy of the tree with one more dialect directory; the wheel is the current tree's.
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copytree(PACKAGE, copy / "python" / "automatosx", ignore=shutil.ignore_patterns("*.so"))
    (copy / "python" / "automatosx" / "migrations" / "mysql").mkdir()
    (copy / "python" / "automatosx" / "migrations" / "mysql" / "001_initial.sql").write_text("--\n")
    out = tmp_path / "dist"
    out.mkdir()
    result = _check(copy, _wheel(out, MACHINE))
    assert result.returncode == 1
    assert "FAIL  migrations/mysql: missing from the wheel ['001_initial.sql']" in result.stdout


def test_a_foreign_wheel_gets_its_own_platform_and_elf_checks(tmp_path: Path) -> None:
    # This machine's extension in a wheel tagged for the other architecture: the platform tag
    # is expected for the wheel's arch (passes), the ELF machine is not that arch (fails), and
    # the clean install is handed to the qemu smoke test instead of being attempted here.
    result = _check(ROOT, _wheel(tmp_path, OTHER))
    assert f"ok    platform tag manylinux2014_{OTHER}.manylinux_2_17_{OTHER}" in result.stdout
    assert f"the tag says {OTHER}" in result.stdout
    assert "FAIL  ELF machine is" in result.stdout
    assert "installed and run under" in result.stdout
    assert result.returncode == 1


@pytest.mark.skipif(MACHINE not in ELF_NAME, reason="x86_64 and aarch64 hosts only")
def test_the_hosts_elf_machine_matches_its_tag(tmp_path: Path) -> None:
    result = _check(ROOT, _wheel(tmp_path, MACHINE))
    assert "ok    ELF machine: " in result.stdout
    assert f"{ELF_NAME[MACHINE]} ({MACHINE})" in result.stdout
    assert "ok    does not link libpython" in result.stdout
