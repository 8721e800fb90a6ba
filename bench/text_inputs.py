"""Reading a month as it arrives: a GB18030 CSV of the ledger against the same rows in Parquet.

Builds `bench/data/text-<N>/ledger.csv` (GB18030, the 1M-row bench month's ledger repeated with distinct
setl_ids, all columns as text) and `ledger.parquet` (the same text as Parquet), then times, alternating, in one
run: `mediclear convert` of each (stage, normalise, validate, write contract Parquet) and `mediclear validate`
of each (the loader alone). Prints rows/s, peak RSS and the text/Parquet ratios; writes bench/results/.

    .venv/bin/python bench/text_inputs.py --millions 10 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import machine, measure, month  # noqa: E402

HERE = Path(__file__).resolve().parent


def build(millions: int) -> Path:
    folder = HERE / "data" / f"text-{millions}"
    csv_path, parquet_path = folder / "ledger.csv", folder / "ledger.parquet"
    if csv_path.exists() and parquet_path.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    source = pq.read_table(next((month(HERE / "data", 1_000_000) / "ledger").glob("*.parquet")))
    text = pa.table({f.name: pc.strftime(pc.cast(source[f.name], pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
                     if pa.types.is_timestamp(f.type) else pc.cast(source[f.name], pa.string()) for f in source.schema})
    with open(csv_path.with_suffix(".tmp"), "wb") as sink, pq.ParquetWriter(parquet_path, text.schema) as writer:
        for copy in range(millions):
            part = text.set_column(0, "setl_id", pc.binary_join_element_wise(pa.scalar(f"C{copy:03d}"), text["setl_id"], ""))
            writer.write_table(part)
            buffer = pa.BufferOutputStream()
            pa_csv.write_csv(part, buffer, pa_csv.WriteOptions(include_header=copy == 0))
            sink.write(buffer.getvalue().to_pybytes().decode("utf-8").encode("gb18030"))
    csv_path.with_suffix(".tmp").rename(csv_path)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--millions", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    folder = build(args.millions)
    rows = pq.ParquetFile(folder / "ledger.parquet").metadata.num_rows
    python = sys.executable
    jobs = {
        "convert csv (GB18030)": [python, "-m", "mediclear_cli", "convert", str(folder / "ledger.csv"), "--side",
                                  "ledger", "--out", "/tmp/mc-bench-convert-csv"],
        "convert parquet": [python, "-m", "mediclear_cli", "convert", str(folder / "ledger.parquet"), "--side",
                            "ledger", "--out", "/tmp/mc-bench-convert-pq"],
        "validate csv (GB18030)": [python, "-m", "mediclear_cli", "validate", str(folder / "ledger.csv"), "--side",
                                   "ledger", "--json"],
        "validate parquet": [python, "-m", "mediclear_cli", "validate", str(folder / "ledger.parquet"), "--side",
                             "ledger", "--json"],
    }
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in jobs}
    import shutil

    for _ in range(args.rounds):
        for name, cmd in jobs.items():
            for out in ("/tmp/mc-bench-convert-csv", "/tmp/mc-bench-convert-pq"):
                shutil.rmtree(out, ignore_errors=True)
            results[name].append(measure(cmd, HERE.parent))
    report = {"machine": machine(), "rows": rows, "csv_bytes": (folder / "ledger.csv").stat().st_size, "jobs": {}}
    for name, runs in results.items():
        seconds = sorted(r[0] for r in runs)[len(runs) // 2]
        rss = max(r[1] for r in runs)
        report["jobs"][name] = {"seconds": round(seconds, 2), "rows_per_s": int(rows / seconds),
                                "peak_rss_gib": round(rss / 2**30, 2), "exit": [r[2] for r in runs]}
        print(f"{name:28s} {seconds:8.1f} s {rows / seconds:12,.0f} rows/s {rss / 2**30:6.2f} GiB exit {runs[0][2]}")
    for verb in ("convert", "validate"):
        ratio = report["jobs"][f"{verb} csv (GB18030)"]["seconds"] / report["jobs"][f"{verb} parquet"]["seconds"]
        report[f"{verb}_csv_over_parquet"] = round(ratio, 2)
        print(f"{verb}: GB18030 CSV / Parquet = {ratio:.2f}")
    out = HERE / "results" / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-text-{rows}.json"
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
