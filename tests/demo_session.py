"""`opsledger demo` run as a desk would, once per test module: a sealed,
verified archive of a complete session, its store and its ledger key."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard


@dataclass(frozen=True)
class DemoSession:
    folder: Path
    home: Path
    archive: Path
    ledger_pub: Path
    session_dir: Path
    key: str = "CHG-2041"
    database_url: str | None = None  # None: the embedded SQLite store in `home`

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
        env["OPSLEDGER_HOME"] = str(self.home)
        if self.database_url:
            env["OPSLEDGER_DATABASE_URL"] = self.database_url
        return env


def opsledger_command() -> list[str]:
    exe = Path(sys.executable).with_name("opsledger")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "opsledger.cli"]


def run_demo(folder: Path, database_url: str | None = None) -> DemoSession:
    """The demo in `folder`; with `database_url`, its events in that PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    if database_url:  # the keys and archives still in the demo's folder
        env["OPSLEDGER_DATABASE_URL"] = database_url
        env["OPSLEDGER_HOME"] = str(folder / ".opsledger")
    done = subprocess.run([*opsledger_command(), "demo", "--dir", str(folder)], cwd=folder.parent,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    home = folder / ".opsledger"
    (archive,) = (home / "archives").glob("CHG-2041-*.tar.zst")
    (session_dir,) = (folder / "reports" / "live").glob("*/CHG-2041")
    return DemoSession(folder=folder, home=home, archive=archive,
                       ledger_pub=home / "keys" / "ledger.pub", session_dir=session_dir,
                       database_url=database_url)


def extract(archive: Path, dest: Path) -> Path:
    """The archive unpacked into `dest`; returns the bag's folder."""
    with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as plain, \
            tarfile.open(fileobj=plain, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    (bag,) = [p for p in dest.iterdir() if p.is_dir()]
    return bag
