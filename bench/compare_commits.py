"""Two commits of mediclear on the same month, alternating, in one run: wall and CPU time, peak RSS and the time
of every stage (from `--log-format json`), with the ratio of the second to the first. This VM's speed swings
by a third within minutes, so a change is judged against its parent run beside it, not against last week's
figures.

  python bench/compare_commits.py 0327801 HEAD --month bench/data/month-1000000 --rounds 3

Each commit is checked out into a temporary git worktree and run from another directory with PYTHONPATH
pointing at it (the interpreter and libraries are this checkout's .venv). Outputs go to a temporary folder
that is removed after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one_run(tree: Path, month: Path, out: Path, extra: list[str]) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "mediclear_cli", "--log-format", "json", "clear", "--claims", str(month / "claims"),
         "--ledger", str(month / "ledger"), "--period", "2026-10", "--out", str(out), "--pdf", "never", *extra],
        cwd=out.parent, env=dict(os.environ, PYTHONPATH=str(tree)), capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures: dict[str, float] = {"cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
    for line in proc.stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "stage finished":
            figures["stage: " + event["stage"]] = event["duration_s"]
        elif event.get("event") == "run finished":
            figures["wall"] = event["duration_s"]
            figures["peak GiB"] = event["resources"]["peak_rss_bytes"] / 2**30
    if "wall" not in figures:
        sys.exit(f"run of {tree} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--month", type=Path, default=REPO / "bench" / "data" / "month-1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="more options for clear (after --)")
    args = parser.parse_args()
    month = args.month.resolve()
    with tempfile.TemporaryDirectory(prefix="mediclear-compare-") as tmp:
        trees = {}
        for ref in (args.first, args.second):
            tree = Path(tmp) / f"tree-{len(trees)}"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
            trees[ref] = tree
        try:
            runs: dict[str, list[dict[str, float]]] = {ref: [] for ref in trees}
            for number in range(args.rounds):
                for ref, tree in trees.items():
                    figures = one_run(tree, month, Path(tmp) / "out", args.extra)
                    runs[ref].append(figures)
                    print(f"round {number + 1} {ref:>12}: wall {figures['wall']:7.2f} s, cpu {figures['cpu']:7.2f} s",
                          flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    first, second = (runs[ref] for ref in trees)
    keys = [k for k in first[0] if all(k in r for r in first + second)]
    print(f"\nmedian of {args.rounds}, {month.name}: {args.first} -> {args.second}")
    for key in sorted(keys, key=lambda k: (k.startswith("stage"), k)):
        a = statistics.median(r[key] for r in first)
        b = statistics.median(r[key] for r in second)
        print(f"  {key:45s} {a:8.2f} {b:8.2f}   x{b / a if a else float('nan'):.2f}")


if __name__ == "__main__":
    main()
