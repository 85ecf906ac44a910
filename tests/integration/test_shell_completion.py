"""Shell completion, as the README documents it: `_OPSLEDGER_COMPLETE=bash_source opsledger`
prints a script the shell loads, and completing reads no store."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def run(opsledger_exe: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSLEDGER_")}
    return subprocess.run(opsledger_exe, cwd=cwd, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("shell", "registers"), [
    ("bash", "complete -o nosort -F _opsledger_completion opsledger"),
    ("zsh", "compdef _opsledger_completion opsledger"),
    ("fish", "complete --no-files --command opsledger"),
])
def test_the_completion_script_is_produced(opsledger_exe, tmp_path, shell, registers):
    done = run(opsledger_exe, tmp_path, _OPSLEDGER_COMPLETE=f"{shell}_source")
    assert done.returncode == 0, done.stderr
    assert registers in done.stdout and "_OPSLEDGER_COMPLETE" in done.stdout
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []  # no ./.opsledger: completion touches no store


def test_completing_a_command_and_a_choice(opsledger_exe, tmp_path):
    words = run(opsledger_exe, tmp_path, _OPSLEDGER_COMPLETE="bash_complete",
                COMP_WORDS="opsledger tic", COMP_CWORD="1")
    assert words.returncode == 0 and words.stdout.split() == ["plain,ticket"]
    checks = run(opsledger_exe, tmp_path, _OPSLEDGER_COMPLETE="bash_complete",
                 COMP_WORDS="opsledger evidence attach CHG-2041 prod", COMP_CWORD="4")
    assert checks.stdout.split() == ["plain,prod-cutover"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_loads_the_script_as_the_readme_says(opsledger_exe, tmp_path):
    exe = " ".join(f"'{part}'" for part in opsledger_exe)
    script = (f'opsledger() {{ {exe} "$@"; }}\n'
              'eval "$(_OPSLEDGER_COMPLETE=bash_source opsledger)"\n'
              "complete -p opsledger\n")
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("OPSLEDGER_")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "complete -o nosort -F _opsledger_completion opsledger"
