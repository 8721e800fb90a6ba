"""Benchmark runner: times, in one run and alternating, the whole-process wall time and peak RSS of
  floor      a DuckDB scan of every column of both inputs
  baseline   the hand-written single DuckDB script (baseline_duckdb.py)
  mediclear  `mediclear clear` end to end (validation, reconciliation, netting, statements, manifest)
  spark      the same with `--engine spark` (with --spark MASTER); its JVM is a child of the process, in the
             peak RSS "with children" (sampled from /proc), not in the CPU seconds
  spark-executors  the same, the month loaded on Spark's executors (with --spark-executors)
  pandas     the hand-written pandas script (baseline_pandas.py), when pandas is installed and the size allows
  diff       `mediclear diff` of the two sides on setl_id (the auditors' job)
  diff-spark the same with `--engine spark` (with --spark MASTER)
  datacompy  datacompy comparing the same (baseline_datacompy.py), when installed and the size allows
and prints ratios against the baseline measured in the same run; results go to bench/results/.

  python bench/run.py                    # 20,000 rows per side, 3 rounds (a smoke test, under a minute)
  python bench/run.py --sizes 1000000 10000000 --rounds 3
Months are generated with `mediclear sample` (seeded, in chunks) under bench/data/ and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLOOR = ("import duckdb,sys; c=duckdb.connect(); "
         "[c.execute(f\"SELECT max(COLUMNS(*)) FROM read_parquet('{d}/*.parquet')\").fetchall() for d in sys.argv[1:3]]")


def _tree_rss(root: int) -> int:
    """Bytes resident now in process `root` and every process below it (a JVM that pyspark starts)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(stat[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measure(cmd: list[str], cwd: Path) -> tuple[float, int, int, float, int]:
    """Wall seconds, peak RSS in bytes (of that process alone, via wait4), exit code, CPU seconds (user +
    system) and the peak RSS of the process with its children (sampled every 0.05 s from /proc: the JVM of
    `--engine spark`, which wait4 does not see). On a shared VM the wall time swings by a third between runs
    when the host takes CPU away (steal); CPU time does not count what was taken, so its ratios are the
    steadier comparison."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree_peak = 0
    while True:  # wait4 with WNOHANG reaps the process (with its rusage) only once it has ended
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree_peak = max(tree_peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"bench: {' '.join(cmd[:4])}… exited {code}: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024, code, usage.ru_utime + usage.ru_stime, max(tree_peak, usage.ru_maxrss * 1024)


def machine() -> dict[str, object]:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    import duckdb

    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "platform": platform.platform()}


def month(data: Path, rows: int) -> Path:
    target = data / f"month-{rows}"
    if not (target / "labels.parquet").is_file():
        subprocess.run([sys.executable, "-m", "mediclear_cli", "sample", str(target), "--rows", str(rows),
                        "--seed", "6"], check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000], help="settlements per side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--pandas-max", type=int, default=2_000_000, help="largest size the pandas script runs at")
    parser.add_argument("--datacompy-max", type=int, default=1_000_000, help="largest size datacompy runs at")
    parser.add_argument("--diff-max", type=int, default=20_000_000, help="largest size mediclear diff runs at")
    parser.add_argument("--memory-limit", default="", help="passed to mediclear clear --memory-limit")
    parser.add_argument("--spark", default="", metavar="MASTER",
                        help="also time mediclear clear (and diff) --engine spark on this master, e.g. local[2] (issue 17)")
    parser.add_argument("--spark-executors", action="store_true",
                        help="with --spark, also time the run whose month is loaded on Spark's executors (spark_loader)")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a spark.* setting for that run, e.g. spark.driver.memory=4g (repeatable)")
    args = parser.parse_args()
    work = args.data / "runs"
    work.mkdir(parents=True, exist_ok=True)
    try:
        import pandas  # noqa: F401

        have_pandas = True
    except ImportError:
        have_pandas = False
    try:
        import datacompy  # noqa: F401

        have_datacompy = True
    except ImportError:
        have_datacompy = False
    report: dict[str, object] = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "machine": machine(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                                 "sizes": {}}
    for rows in args.sizes:
        m = month(args.data, rows)
        claims, ledger = str(m / "claims"), str(m / "ledger")
        jobs = {
            "floor": [sys.executable, "-c", FLOOR, claims, ledger],
            "baseline": [sys.executable, str(HERE / "baseline_duckdb.py"), claims, ledger, str(work / "baseline")],
            "mediclear": [sys.executable, "-m", "mediclear_cli", "clear", "--claims", claims, "--ledger", ledger,
                          "--period", "2026-10", "--out", str(work / "mediclear"), "--pdf", "never"]  # as before: no PDF
            + (["--memory-limit", args.memory_limit] if args.memory_limit else []),
        }
        if args.spark:
            config = work / "spark.toml"  # the spark.* settings reach mediclear through its config file
            config.write_text("".join(f'{k.strip()} = {json.dumps(v.strip())}\n' for k, v in
                                      (s.split("=", 1) for s in args.spark_conf)), encoding="utf-8")
            jobs["spark"] = [sys.executable, "-m", "mediclear_cli", "--config", str(config), *jobs["mediclear"][3:],
                             "--engine", "spark", "--spark-master", args.spark]
            if args.spark_executors:
                loaded = work / "spark-executors.toml"
                loaded.write_text(config.read_text(encoding="utf-8") + 'spark.mediclear.load = "executors"\n',
                                  encoding="utf-8")
                jobs["spark-executors"] = [*jobs["spark"][:4], str(loaded), *jobs["spark"][5:]]
        if have_pandas and rows <= args.pandas_max:
            jobs["pandas"] = [sys.executable, str(HERE / "baseline_pandas.py"), claims, ledger, str(work / "pandas")]
        if rows <= args.diff_max:
            jobs["diff"] = [sys.executable, "-m", "mediclear_cli", "diff", claims, ledger, "--key", "setl_id",
                            "--map", "insuplc_admdvs=insu_admdvs", "--map", "mdtrtarea_admvs=fix_blng_admdvs",
                            "--map", "psn_cash_pay=cash_payamt", "--map", "oth_pay=othfund_pay",
                            "--out", str(work / "diff")]
            if args.spark:
                jobs["diff-spark"] = [sys.executable, "-m", "mediclear_cli", "--config", str(work / "spark.toml"),
                                      *jobs["diff"][3:-1], str(work / "diff-spark"), "--engine", "spark",
                                      "--spark-master", args.spark]
        if have_datacompy and rows <= args.datacompy_max:
            jobs["datacompy"] = [sys.executable, str(HERE / "baseline_datacompy.py"), claims, ledger,
                                 str(work / "datacompy")]
        samples: dict[str, list[tuple[float, int, float]]] = {name: [] for name in jobs}
        for _ in range(args.rounds):
            for name, cmd in jobs.items():  # alternating: one of each per round
                seconds, rss, _, cpu, tree = measure(cmd, work)
                samples[name].append((seconds, rss, cpu, tree))
        shutil.rmtree(work / "mediclear", ignore_errors=True)  # the Spark run writes the same folder
        shutil.rmtree(work / "diff", ignore_errors=True)
        shutil.rmtree(work / "diff-spark", ignore_errors=True)
        medians = {name: {"seconds": statistics.median(s for s, _, _, _ in runs),
                          "peak_rss_gib": statistics.median(r for _, r, _, _ in runs) / 2**30,
                          "tree_peak_rss_gib": statistics.median(tr for _, _, _, tr in runs) / 2**30,
                          "cpu_seconds": statistics.median(c for _, _, c, _ in runs),
                          "runs": [round(s, 3) for s, _, _, _ in runs]} for name, runs in samples.items()}
        base = medians["baseline"]["seconds"]
        ratios = {f"{name}/baseline": round(v["seconds"] / base, 2) for name, v in medians.items()}
        cpu_base = medians["baseline"]["cpu_seconds"] or 1e-9
        cpu_ratios = {f"{name}/baseline": round(v["cpu_seconds"] / cpu_base, 2) for name, v in medians.items()}
        if "pandas" in medians:
            ratios["pandas/mediclear"] = round(medians["pandas"]["seconds"] / medians["mediclear"]["seconds"], 2)
        if "spark-executors" in medians:
            ratios["spark-executors/spark"] = round(medians["spark-executors"]["seconds"] / medians["spark"]["seconds"], 2)
        if "diff-spark" in medians:
            ratios["diff-spark/diff"] = round(medians["diff-spark"]["seconds"] / medians["diff"]["seconds"], 2)
        if "datacompy" in medians:
            ratios["datacompy/diff"] = round(medians["datacompy"]["seconds"] / medians["diff"]["seconds"], 2)
        report["sizes"][str(rows)] = {"median": medians, "ratios": ratios, "cpu_ratios": cpu_ratios}  # type: ignore[index]
        print(f"\n{rows:,} rows per side (median of {args.rounds}, alternating)")
        for name, v in medians.items():
            print(f"  {name:10s} {v['seconds']:8.2f} s  {v['peak_rss_gib']:6.2f} GiB (with children "
                  f"{v['tree_peak_rss_gib']:5.2f})  cpu {v['cpu_seconds']:8.2f} s"
                  f"   runs {v['runs']}")
        print("  ratios:", ", ".join(f"{k} {v}" for k, v in ratios.items()))
        print("  cpu ratios:", ", ".join(f"{k} {v}" for k, v in cpu_ratios.items()))
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{'-'.join(map(str, args.sizes))}.json"
    (args.results / name).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.results / name}")


if __name__ == "__main__":
    main()
