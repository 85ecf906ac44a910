"""What `pip install opsledger` puts into site-packages: one import package.

The repository's folders (domain/, cli/, ...) are generic names; installed
as top-level packages they would collide with any other distribution using
them. The wheel must hold `opsledger/` and its dist-info, nothing else, and
every module of the source folders must be in it.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("domain", "projections", "archiver", "services", "adapters", "cli", "render", "web")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so setuptools' build/ folder never lands in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = out.glob("opsledger-*.whl")
    return found


def _record(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8"))
        return [row[0] for row in rows]


def test_the_wheel_installs_one_top_level_package(wheel: Path) -> None:
    tops = {path.split("/")[0] for path in _record(wheel)}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"opsledger"}, sorted(tops)
    assert len(dist_info) == 1


def test_every_source_module_is_in_the_wheel(wheel: Path) -> None:
    installed = set(_record(wheel))
    expected = {
        f"opsledger/{path.relative_to(ROOT).as_posix()}"
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    missing = sorted(expected - installed)
    assert not missing, f"not packaged (add the sub-package to pyproject.toml): {missing}"


def test_the_pages_templates_and_stylesheet_are_in_the_wheel(wheel: Path) -> None:
    installed = set(_record(wheel))
    expected = {f"opsledger/{p.relative_to(ROOT).as_posix()}"
                for p in (ROOT / "render" / "templates").iterdir() if p.is_file()}
    assert expected and not expected - installed, sorted(expected - installed)


def test_installed_wheel_runs_the_demo_and_exposes_no_generic_names(
    wheel: Path, tmp_path: Path
) -> None:
    """A fresh venv with only the wheel (its dependencies borrowed from this
    environment's site-packages, without this checkout's editable finder)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # A plain path line: the dependencies, but not the .pth files beside them.
    Path(purelib, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "PYTHON"))}
    work = tmp_path / "work"
    work.mkdir()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300)

    for generic in ("domain", "projections", "archiver", "cli", "services", "adapters"):
        probe = run(str(python), "-c", f"import {generic}")
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, generic
    probe = run(str(python), "-c", "import opsledger.domain.ticket, opsledger.cli.main; "
                "print(opsledger.domain.ticket.__file__)")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(purelib), probe.stdout  # the wheel's copy, not the checkout
    demo = run(str(venv / "bin" / "opsledger"), "demo", "--dir", str(work / "demo"))
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "closed" in demo.stdout
