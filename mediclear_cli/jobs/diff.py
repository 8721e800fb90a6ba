"""`mediclear diff` (any two tables on a key) and `mediclear diff-runs` (two clearing runs of one period)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli import __version__, engine
from mediclear_cli.errors import ExitCode, check_stopped
from mediclear_cli.jobs.common import (
    check_output,
    sized_session,
)
from mediclear_cli.manifest import hash_inputs, manifest_head, run_id_of
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.writers import write_json, write_parquet, write_parquet_query


def run_diff(left: list[str], right: list[str], options: Any, out: Path | None,
             memory_limit: str = "", temp_directory: str = "", engine_name: str = "duckdb",
             spark: Any = None) -> tuple[dict[str, Any], ExitCode]:
    """`mediclear diff`: compare two tables; with `out`, write rows, cells, summary, reports, manifest.
    `engine_name` spark: Spark reads both sides and takes out the equal pairs (diff_spark; its master and
    settings in `spark`, a spark_engine.SparkOptions), DuckDB explains what is left."""
    from mediclear_cli.diff import diff, load_table, samples
    from mediclear_cli.diff_reports import html_report, xlsx_report

    check_output(out, "diff", None, [Path(p) for p in left + right if Path(p).exists()])
    with sized_session(memory_limit, temp_directory, ("left", left), ("right", right)) as con:
        scratch = engine.scratch_dir(con)
        engine.run(con, "macros")  # the masking of personal data in every output
        try:  # a zoned timestamp's text is the same on every machine
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # without the ICU extension DuckDB has no zones to differ by
            pass
        if engine_name == "spark":
            from mediclear_cli import diff_spark, spark_engine

            session = spark_engine.session(spark or spark_engine.SparkOptions())
            try:
                pruned = diff_spark.prune(con, session, options, left, right, scratch)
                check_stopped()  # a signal py4j swallowed (errors.check_stopped)
            except BaseException as exc:  # Ctrl-C or a failure: Spark's jobs stop too
                raise spark_engine.stop_jobs(session, exc) from None
            result = diff(con, options, pruned.left_cols, pruned.right_cols, pruned.plan, pruned.equal, pruned.totals)
        else:
            left_cols = load_table(con, "left", left, options.encoding, scratch)
            right_cols = load_table(con, "right", right, options.encoding, scratch)
            result = diff(con, options, left_cols, right_cols)
        summary = result.summary | {"left": ", ".join(left), "right": ", ".join(right), "tool_version": __version__}
        code = ExitCode.OK if summary["identical"] else ExitCode.HELD
        summary["exit_code"] = int(code)
        if out is not None:
            with RunFolder(out, "diff") as folder:
                for name, sql in (("diff_rows.parquet", result.rows_sql), ("diff_cells.parquet", result.cells_sql),
                                  # what is missing from the other side, in full: nobody has to open the inputs
                                  ("diff_left_only.parquet", result.left_only_sql),
                                  ("diff_right_only.parquet", result.right_only_sql)):
                    folder.wrote(name, write_parquet_query(con, sql, folder.path(name)))
                sample = samples(con, result.cells_sql, summary["compared_columns"])
                for name, writer in (("diff_report.html", html_report), ("diff_report.xlsx", xlsx_report)):
                    writer(summary, sample, folder.path(name))
                    folder.wrote(name)
                write_json(summary, folder.path("diff_summary.json"))
                folder.wrote("diff_summary.json")
                files = {"left": [Path(p) for p in left], "right": [Path(p) for p in right]}
                inputs = hash_inputs({k: [f for f in v if f.is_file()] for k, v in files.items()})
                folder.write_manifest(manifest_head("diff", run_id_of(inputs, {"keys": options.keys}), {"keys": options.keys},
                                                inputs, {}))
                folder.publish()
    return summary, code


def run_diff_runs(run_a: Path, run_b: Path, out: Path | None) -> tuple[dict[str, Any], ExitCode]:
    """`mediclear diff-runs`: two clearing runs of one period — net positions per unit, records that moved
    between categories and why, and whether the manifests' inputs differ."""
    import pyarrow.parquet as pq

    from mediclear_cli.errors import InputNotFound

    check_output(out, "diff-runs", None, [run_a, run_b])
    manifests = {}
    for name, run in (("a", run_a), ("b", run_b)):
        path = run / "manifest.json"
        if not path.is_file() or not (run / "exceptions.parquet").is_file():
            raise InputNotFound(f"{run}: not a finished run folder")
        manifests[name] = json.loads(path.read_text(encoding="utf-8"))
    con = duckdb.connect()
    for name, run in (("a", run_a), ("b", run_b)):
        con.register(f"exc_{name}", pq.read_table(run / "exceptions.parquet", columns=["side", "setl_id", "category",
                                                                                       "clr_amt"]))
        nets_path = run / "net_positions.parquet"
        if not nets_path.is_file():
            raise InputNotFound(f"{run}: no net_positions.parquet; diff-runs compares clearing runs")
        con.register(f"net_{name}", pq.read_table(nets_path, columns=["unit", "net"]))
    nets = engine.run(con, "runs/net_changes").fetchall()
    moved = engine.query(con, "runs/records_moved").to_arrow_table()
    con.register("moved", moved)
    inputs = {name: {(e["role"], e["sha256"]) for e in m.get("inputs", [])} for name, m in manifests.items()}
    summary = {
        "run_a": str(run_a), "run_b": str(run_b),
        "period_a": manifests["a"].get("options", {}).get("period"),
        "period_b": manifests["b"].get("options", {}).get("period"),
        "inputs_differ": inputs["a"] != inputs["b"],
        "inputs_only_in_a": sorted(f"{r}:{h[:12]}" for r, h in inputs["a"] - inputs["b"]),
        "inputs_only_in_b": sorted(f"{r}:{h[:12]}" for r, h in inputs["b"] - inputs["a"]),
        "net_changes": [{"unit": u, "net_a": a, "net_b": b, "change": c} for u, a, b, c in nets if c != 0],
        "records_moved": dict(con.execute("SELECT why, count(*) FROM moved GROUP BY why ORDER BY why").fetchall()),
    }
    code = ExitCode.OK if not (summary["net_changes"] or moved.num_rows or summary["inputs_differ"]) else ExitCode.HELD
    summary["exit_code"] = int(code)
    if out is not None:
        with RunFolder(out, "diff-runs") as folder:
            folder.wrote("records_moved.parquet", write_parquet(moved, folder.path("records_moved.parquet")))
            write_json(summary, folder.path("diff_runs.json"))
            folder.wrote("diff_runs.json")
            folder.write_manifest(manifest_head("diff-runs", "", {}, [], {}))
            folder.publish()
    return summary, code
