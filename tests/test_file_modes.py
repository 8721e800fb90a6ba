"""File modes (issue 7, part 7): whatever the caller's umask, outputs and temporary folders are never group-
or world-writable, and every file of a run (they hold settlement data, masked or not) is owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from conftest import SAMPLE


def test_run_folder_is_owner_only_even_with_umask_000(tmp_path):
    out = tmp_path / "runs" / "2026-10"
    done = subprocess.run(
        [sys.executable, "-m", "mediclear_cli", "clear", "--claims", str(SAMPLE / "claims"), "--ledger",
         str(SAMPLE / "ledger"), "--period", "2026-10", "--out", str(out), "--temp-dir", str(tmp_path / "scratch")],
        capture_output=True, text=True, preexec_fn=lambda: os.umask(0), timeout=120,
    )
    assert done.returncode == 1, done.stderr
    paths = [out, *out.rglob("*")]
    assert len(paths) > 10
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
    assert stat.S_IMODE(out.parent.stat().st_mode) & 0o022 == 0  # the parent we created is not writable by others
    # the scratch database folder is private while it exists and removed afterwards
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir())
