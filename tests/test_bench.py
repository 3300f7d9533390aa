"""Every bench script still starts: `--help` of each script in bench/ (not the underscore
modules it imports) exits 0 with a usage line that names the script. A broken import in a
bench script, or in a shared module it imports, fails here. The scripts run at once, each in
its own process, so the test takes about as long as the slowest one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_there_are_bench_scripts():
    assert len(SCRIPTS) >= 10, SCRIPTS


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    running = {
        p.name: subprocess.Popen(
            [sys.executable, str(p), "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in SCRIPTS
    }
    out = {}
    for name, proc in running.items():
        stdout, stderr = proc.communicate(timeout=60)
        out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("script", [p.name for p in SCRIPTS])
def test_the_bench_script_answers_help(helps, script):
    done = helps[script]
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script} "), done.stdout[:200]
