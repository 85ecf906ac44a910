"""The dependency rule of the layout, enforced on every module's imports.

    cli, web (the HTTP service) -> services -> projections, archiver, adapters -> domain

- domain imports only the standard library, eventsourcing and pydantic;
- projections and archiver may import domain, never each other, nor the
  layers above them; adapters likewise import only domain;
- services hold the use cases and never import cli;
- cli reaches the rest through services (and domain's value types); only
  cli/errors.py, which maps every layer's errors to exit codes, imports the
  layers' error types directly; a command module never imports another;
- the HTTP service (web/) is a door like cli: it reaches the rest through
  services (and domain's value types, never its application or use cases);
  only web/problems.py maps the layers' errors to HTTP statuses; nothing
  imports it but cli/commands/serve.py;
- one adapter module per package imports a driver; cli and services none;
- render (HTML for people) is pure: plain values in, HTML out; it imports
  only the standard library, jinja2 and markupsafe, never another layer;
- only the composition root (services/settings.py, services/bootstrap.py)
  reads the environment.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("domain", "projections", "archiver", "adapters", "render", "services", "web", "cli")
DRIVERS = {"psycopg": {"psycopg", "psycopg_pool"}, "boto3": {"boto3", "botocore"}}
STDLIB = set(sys.stdlib_module_names)
MAX_LINES = 420  # "no module over ~400 lines": one screenful of scrolling, not a chapter


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Full module names imported by `path` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    package = ["opsledger", *path.relative_to(root).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def layers_of(path: Path, root: Path = ROOT) -> set[str]:
    """`opsledger.domain.ticket` -> `domain`; a third-party module -> its top name."""
    out = set()
    for name in imports_of(path, root):
        parts = name.split(".")
        out.add(parts[1] if parts[0] == "opsledger" and len(parts) > 1 else parts[0])
    return out


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_layer_exists() -> None:
    for layer in LAYERS:
        assert (ROOT / layer / "__init__.py").exists(), layer


def test_domain_imports_only_stdlib_eventsourcing_and_pydantic() -> None:
    allowed = STDLIB | {"eventsourcing", "pydantic", "typing_extensions", "domain", "opsledger"}
    for path in modules("domain"):
        extra = layers_of(path) - allowed
        assert not extra, f"{rel(path)} imports {sorted(extra)}"


def test_render_imports_only_stdlib_and_jinja2() -> None:
    """The pages and the archive's report are drawn from plain documents: a
    template can never reach a store, so what it shows is what a service returned."""
    allowed = STDLIB | {"jinja2", "markupsafe", "render", "opsledger"}
    for path in modules("render"):
        extra = layers_of(path) - allowed
        assert not extra, f"{rel(path)} imports {sorted(extra)}"
        other = {n for n in imports_of(path)
                 if n.startswith("opsledger.") and not n.startswith("opsledger.render")}
        assert not other, f"{rel(path)} imports {sorted(other)}"


def test_inner_layers_never_import_sideways_or_up() -> None:
    forbidden = {
        "projections": {"archiver", "adapters", "render", "services", "web", "cli"},
        "archiver": {"projections", "adapters", "render", "services", "web", "cli"},
        "adapters": {"projections", "archiver", "render", "services", "web", "cli"},
        "services": {"web", "cli"},
    }
    for layer, bad_layers in forbidden.items():
        for path in modules(layer):
            bad = layers_of(path) & bad_layers
            assert not bad, f"{rel(path)} imports {sorted(bad)}"


def test_cli_reaches_the_rest_through_services() -> None:
    for path in modules("cli"):
        if rel(path) == "cli/errors.py":
            continue  # the one place that maps every layer's errors to exit codes
        bad = layers_of(path) & {"projections", "archiver", "adapters"}
        assert not bad, f"{rel(path)} imports {sorted(bad)}: call a service instead"


def test_no_command_module_imports_another() -> None:
    for path in modules("cli/commands"):
        others = {
            name for name in imports_of(path)
            if name.startswith("opsledger.cli.commands.") and name != "opsledger.cli.commands"
        }
        assert not others, f"{rel(path)} imports {sorted(others)}"


def test_the_http_service_reaches_the_rest_through_services() -> None:
    for path in modules("web"):
        if rel(path) == "web/problems.py":
            continue  # the one place that maps every layer's errors to HTTP statuses
        bad = layers_of(path) & {"projections", "archiver", "adapters", "cli"}
        assert not bad, f"{rel(path)} imports {sorted(bad)}: call a service instead"
        use_cases = {m for m in imports_of(path)
                     if m.startswith(("opsledger.domain.application", "opsledger.domain.use_cases"))}
        assert not use_cases, f"{rel(path)} imports {sorted(use_cases)}: call a service instead"
        errors = {m for m in imports_of(path) if m.split(".")[-1] == "errors"
                  or ".errors." in m}
        assert not errors, f"{rel(path)} imports {sorted(errors)}: map errors in web/problems.py"


def test_nothing_imports_the_http_service_but_serve() -> None:
    for layer in LAYERS:
        for path in modules(layer):
            if layer == "web" or rel(path) == "cli/commands/serve.py":
                continue
            assert "web" not in layers_of(path), f"{rel(path)} imports the HTTP service"


def test_nothing_imports_cli() -> None:
    for layer in LAYERS[:-1]:
        for path in modules(layer):
            assert "cli" not in layers_of(path), rel(path)


def test_one_adapter_module_per_package_imports_a_driver() -> None:
    for layer in ("domain", "projections", "archiver", "adapters"):
        for driver, names in DRIVERS.items():
            users = [rel(p) for p in modules(layer) if layers_of(p) & names]
            assert len(users) <= 1, f"{layer}: {driver} imported by {users}"
    for layer in ("services", "cli"):
        for path in modules(layer):
            drivers = set().union(*DRIVERS.values())
            assert not layers_of(path) & drivers, f"{rel(path)} imports a driver directly"


def test_only_the_composition_root_reads_the_environment() -> None:
    root = {"services/settings.py", "services/bootstrap.py"}
    # The demo's stand-in `tradepulse-cli` is a program of its own, run as a
    # script by `opsledger run`: it reads OPSLEDGER_TICKET as any script would.
    root.add("services/demo_tradepulse.py")
    for layer in LAYERS:
        for path in modules(layer):
            if rel(path) in root:
                continue
            text = path.read_text()
            assert "os.environ" not in text and "getenv(" not in text, (
                f"{rel(path)} reads the environment; only services/settings.py may"
            )


def test_no_module_is_a_chapter() -> None:
    long = {
        rel(p): n for layer in LAYERS for p in modules(layer)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checker_finds_what_it_forbids(tmp_path: Path) -> None:
    """The rules above are only as good as the import scan: show it sees
    relative, aliased, nested and TYPE_CHECKING imports."""
    (tmp_path / "archiver").mkdir()
    sample = tmp_path / "archiver" / "probe.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import store\n"
        "import opsledger.projections.tickets as t\n"
        "if TYPE_CHECKING:\n    from opsledger.services.bootstrap import Services\n"
        "def f():\n    import boto3\n"
    )
    found = layers_of(sample, tmp_path)
    assert {"archiver", "projections", "services", "boto3"} <= found


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
        bad = {m for m in imports_of(path)
               if m.startswith(VERIFY_MUST_NOT_IMPORT) or m.split(".")[0] in WRITING_MODULES}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
        assert not writes_in(path), f"{path.relative_to(ROOT)} writes: {writes_in(path)}"


def test_the_read_only_rule_would_catch_a_writer():
    # extract.py is a verifier pass that writes what it admits; that is why it is not in verify/.
    assert writes_in(ROOT / "archiver" / "extract.py")
    assert modules("archiver/verify"), "archiver/verify/ is missing"
