"""The dependency rule of the layout, enforced on every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "projections", "archiver", "cli")
DRIVERS = ("psycopg", "boto3", "botocore")
STDLIB = set(sys.stdlib_module_names)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.add(path.relative_to(ROOT).parts[0])  # relative: same package
    return {_layer(name) for name in names}


def _layer(module: str) -> str:
    """`opsledger.domain.ticket` -> `domain`; a third-party module -> its top name."""
    parts = module.split(".")
    if parts[0] == "opsledger" and len(parts) > 1:
        return parts[1]
    return parts[0]


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_package_exists():
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").exists(), package


def test_domain_imports_only_stdlib_eventsourcing_and_pydantic():
    allowed = STDLIB | {"eventsourcing", "pydantic", "domain", "typing_extensions"}
    for path in modules("domain"):
        extra = imports_of(path) - allowed
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


def test_projections_and_archiver_never_import_each_other_nor_cli():
    for package, forbidden in (("projections", {"archiver", "cli"}),
                               ("archiver", {"projections", "cli"})):
        for path in modules(package):
            bad = imports_of(path) & forbidden
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_domain_never_imports_outer_layers():
    for path in modules("domain"):
        bad = imports_of(path) & {"projections", "archiver", "cli"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_only_one_adapter_module_per_package_imports_a_driver():
    for package in ("domain", "projections", "archiver"):
        for driver in DRIVERS[:2]:
            users = [p for p in modules(package)
                     if imports_of(p) & ({driver} | ({"botocore"} if driver == "boto3" else set()))]
            assert len(users) <= 1, f"{package}: {driver} imported by {users}"
    for path in modules("cli"):
        assert not imports_of(path) & set(DRIVERS), f"{path} imports a driver directly"


def test_nothing_imports_cli():
    for package in ("domain", "projections", "archiver"):
        for path in modules(package):
            assert "cli" not in imports_of(path), path


def test_only_cli_reads_the_environment():
    for package in ("domain", "projections", "archiver"):
        for path in modules(package):
            text = path.read_text()
            assert "os.environ" not in text and "getenv(" not in text, (
                f"{path.relative_to(ROOT)} reads the environment; only cli/ may"
            )
