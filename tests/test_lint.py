"""The tree stays lint-clean (ruff, configured in pyproject.toml), checked in CI like any other test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def test_ruff_finds_nothing():
    beside = Path(sys.executable).parent / "ruff"  # the venv's ruff, even when the venv is not activated
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the [test] extra)")
    targets = [d for d in ("mediclear_cli", "tests", "bench") if (REPO / d).is_dir()]
    done = subprocess.run([ruff, "check", *targets], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing_in_the_package():
    """mypy --strict over mediclear_cli (configured in pyproject.toml): the seams between modules are typed."""
    pytest.importorskip("mypy", reason="mypy comes with the [test] extra")
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(REPO / ".mypy_cache")], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
