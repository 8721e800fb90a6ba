"""Kill at any point (issue 7, part 4): SIGKILL `mediclear clear` at seeded moments spread over a whole run.
After every kill, --out holds either the previous complete run or the new complete run (its manifest
verifies), never a partial file under a final name; the next run removes the stray temporary folders and the killed runs' scratch folders.
MEDICLEAR_KILL_POINTS sets how many moments (default 100)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

from mediclear_cli.verify import verify_run

from conftest import SAMPLE

POINTS = int(os.environ.get("MEDICLEAR_KILL_POINTS", "50"))  # 100+ for a long run: 135 s at 100


@pytest.mark.slow
def test_sigkill_at_seeded_moments_never_leaves_a_partial_run(tmp_path):
    out = tmp_path / "runs" / "2026-10"
    base = [sys.executable, "-m", "mediclear_cli", "clear", "--claims", str(SAMPLE / "claims"),
            "--ledger", str(SAMPLE / "ledger"), "--period", "2026-10", "--out", str(out),
            "--temp-dir", str(tmp_path / "scratch")]
    started = time.monotonic()
    first = subprocess.run(base, capture_output=True, cwd=tmp_path)
    duration = time.monotonic() - started
    assert first.returncode == 1 and verify_run(out) == []
    rng = random.Random(20261)
    outcomes = {"previous": 0, "new": 0}
    for point in range(POINTS):
        tolerance = f"0.{point % 90 + 10:02d}"  # every attempt would publish a different run
        proc = subprocess.Popen([*base, "--tolerance", tolerance], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=tmp_path)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        proc.kill()
        proc.wait()
        assert verify_run(out, check_inputs=False) == [], point
        used = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["options"]["tolerance"]
        outcomes["new" if used == tolerance else "previous"] += 1
        for path in out.rglob("*"):
            assert not path.name.startswith(".") or path.name == ".chromium", path
    done = subprocess.run(base, capture_output=True, cwd=tmp_path)
    assert done.returncode == 1 and verify_run(out) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["2026-10"]  # stray temporaries cleaned
    assert list((tmp_path / "scratch").iterdir()) == []  # so are the scratch folders of the killed runs
    # the moments really were spread over the run: some kills came before publishing, some after
    assert outcomes["previous"] > 0 and outcomes["new"] > 0, outcomes
    print(f"{POINTS} kill points: {outcomes}")
