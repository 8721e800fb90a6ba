"""What reading one side costs, and how much of it is normalising text and checking rows (issue 16).

Loads one side of a generated month with `inputs.load_side` as clear does, then again with parts of the work
replaced by what costs nothing — text normalisation by a plain cast, the reject checks by NULL — each in a
fresh process, best of three:

  python bench/normalise_cost.py bench/data/month-1000000/claims

The differences are what each part costs; the outputs of the modified loads are not valid (timing only).
"""

from __future__ import annotations

import subprocess
import sys
import time

MODES = ("full", "without text normalisation", "without reject checks", "without either")


def one(mode: str, path: str, limit: str) -> float:
    import duckdb

    from mediclear_cli import inputs

    if mode in ("without text normalisation", "without either"):
        inputs.normalise_text_sql = lambda expr, fold=True: f"CAST({expr} AS VARCHAR)"  # type: ignore[assignment]
    if mode in ("without reject checks", "without either"):
        inputs._reject_case = lambda side: ("CAST(NULL AS INTEGER)", "CAST(NULL AS VARCHAR)",  # type: ignore[assignment]
                                            "CAST(NULL AS VARCHAR)")
    con = duckdb.connect()
    con.execute("SET memory_limit = $v", {"v": limit})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        inputs.load_side(con, "claims", [path])
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(one(sys.argv[2], sys.argv[3], "1300MB"))
        return
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/data/month-1000000/claims"
    for mode in MODES:
        out = subprocess.run([sys.executable, __file__, "--one", mode, path], check=True, capture_output=True,
                             text=True).stdout
        print(f"{mode:28s} {float(out):6.2f} s")


if __name__ == "__main__":
    main()
