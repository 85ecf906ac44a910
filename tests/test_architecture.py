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


# Calls that create, change or remove files; `open` only with a writing mode.
WRITING_OS_CALLS = {"open", "write", "mkdir", "makedirs", "link", "symlink", "rename", "renames",
                    "replace", "remove", "unlink", "rmdir", "removedirs", "truncate", "ftruncate",
                    "utime", "chmod", "chown", "mkfifo", "mknod"}
# Path's writing methods; not `replace`, which str and dataclasses have too.
WRITING_METHODS = {"write_text", "write_bytes", "touch", "mkdir", "unlink", "rmdir", "rename",
                   "symlink_to", "hardlink_to", "chmod"}
WRITING_MODULES = {"shutil", "tempfile"}
VERIFY_MUST_NOT_IMPORT = ("opsledger.archiver.builder", "opsledger.archiver.stores",
                          "opsledger.archiver.extract")


def full_imports_of(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, `from m import n` as `m.n`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["opsledger", *path.relative_to(ROOT).parent.parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def writes_in(path: Path) -> list[str]:
    """Where a module writes to the file system, as `line: call`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None)
            reading = mode is None or (isinstance(mode, ast.Constant)
                                       and not set(str(mode.value)) & set("wax+"))
            if not reading:
                found.append(f"{node.lineno}: open(..., {ast.unparse(mode)})")
        elif isinstance(func, ast.Attribute):
            owner = ast.unparse(func.value)
            if owner == "os" and func.attr in WRITING_OS_CALLS:
                found.append(f"{node.lineno}: os.{func.attr}")
            elif owner in WRITING_MODULES or func.attr in WRITING_METHODS:
                found.append(f"{node.lineno}: {owner}.{func.attr}")
    return found


def test_the_verifier_is_read_only_and_never_imports_the_builder():
    """archiver/verify/ only reads: it imports nothing of the builder, the stores or the
    extractor (which writes), and calls nothing that writes to the file system."""
    for path in modules("archiver/verify"):
        bad = {m for m in full_imports_of(path)
               if m.startswith(VERIFY_MUST_NOT_IMPORT) or m.split(".")[0] in WRITING_MODULES}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        assert not writes_in(path), f"{path.relative_to(ROOT)} writes: {writes_in(path)}"


def test_the_read_only_rule_would_catch_a_writer():
    # extract.py is a verifier pass that writes what it admits; that is why it is not in verify/.
    assert writes_in(ROOT / "archiver" / "extract.py")
    assert modules("archiver/verify"), "archiver/verify/ is missing"
