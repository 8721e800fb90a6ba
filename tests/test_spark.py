"""Issue 17: `--engine spark` reconciles on Apache Spark (local mode, 2 threads here) with the very SQL of the
DuckDB engine, and every data output is the DuckDB engine's byte for byte, with the same exit codes: the
sample month at province and pool level, central and bilateral, with prepaid accounts; a generated month of
over 100,000 settlements; three chained workspace months (carried rows in); reconcile alone. The plan of the
reconciliation on Spark never gathers the month's rows into one partition."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli, data_files

pytest.importorskip("pyspark", reason="the spark extra: pip install '.[spark]'")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SPARK = ("--engine", "spark", "--spark-master", "local[2]")


def _same(duck: dict[str, bytes], spark: dict[str, bytes]) -> None:
    assert sorted(duck) == sorted(spark)
    for name in duck:
        assert duck[name] == spark[name], name


def _both(tmp_path: Path, command: str, month: Path, *extra: str, code: int = 1) -> tuple[dict[str, bytes], ...]:
    runs = []
    for name, engine in (("duckdb", ()), ("spark", SPARK)):
        out = tmp_path / name
        cli([command, "--claims", month / "claims", "--ledger", month / "ledger", "--period", "2026-10",
             "--out", out, *(("--pdf", "never") if command == "clear" else ()), *extra, *engine], code)
        runs.append(data_files(out))
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["resources"]["engine"] == name
        runs.append({"run_id": manifest["run_id"].encode(), "outputs": json.dumps(manifest["outputs"]).encode()})
    return tuple(runs)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [
    ("--regions", SAMPLE / "regions.parquet", "--prepaid", SAMPLE / "prepaid.parquet"),
    ("--level", "pool", "--settlement", "bilateral", "--regions", SAMPLE / "regions.parquet",
     "--prepaid", SAMPLE / "prepaid.parquet"),
])
def test_the_sample_month_on_spark_is_the_sample_month(tmp_path, extra):
    duck, duck_manifest, spark, spark_manifest = _both(tmp_path, "clear", SAMPLE, *extra)
    _same(duck, spark)
    _same(duck_manifest, spark_manifest)  # the same run id, the same outputs and hashes


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated month of about 105,000 settlements a side, with its injected differences."""
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate

    out = tmp_path_factory.mktemp("large")
    generate(out, rows=100_000, period=Period.parse("2026-10"), seed=11)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("extra", [
    (),
    ("--level", "pool", "--settlement", "bilateral", "--screen"),
])
def test_a_generated_month_of_100k_rows_on_spark_is_the_month(tmp_path, large, extra):
    rows = sum(__import__("pyarrow.parquet").parquet.read_metadata(p).num_rows for p in (large / "claims").glob("*.parquet"))
    assert rows >= 100_000
    extra = (*extra, "--regions", large / "regions.parquet", "--prepaid", large / "prepaid.parquet")
    duck, duck_manifest, spark, spark_manifest = _both(tmp_path, "clear", large, *extra)
    _same(duck, spark)
    _same(duck_manifest, spark_manifest)


@pytest.mark.slow
def test_a_large_month_hands_spark_zstd_files_and_changes_nothing(tmp_path, monkeypatch):
    """Above inputs.COMPACT_SCRATCH_ABOVE_ROWS (lowered here to 0) the files the loader writes for Spark are
    ZSTD, as a partitioned DuckDB month's are, and every data output is still the DuckDB engine's."""
    import pyarrow.parquet as pq

    from mediclear_cli import inputs, spark_engine

    seen: list[str] = []
    categorise = spark_engine.categorise

    def spy(con, spark, options, files, carried, folder):
        seen.extend(pq.read_metadata(f).row_group(0).column(0).compression for side in files.values() for f in side)
        return categorise(con, spark, options, files, carried, folder)

    monkeypatch.setattr(inputs, "COMPACT_SCRATCH_ABOVE_ROWS", 0)
    monkeypatch.setattr(spark_engine, "categorise", spy)
    duck, duck_manifest, spark, spark_manifest = _both(tmp_path, "clear", SAMPLE)
    assert seen and set(seen) == {"ZSTD"}
    _same(duck, spark)
    _same(duck_manifest, spark_manifest)


@pytest.mark.slow
def test_odd_extras_a_tolerance_and_every_category_on_spark(tmp_path):
    """A small month with what Spark types and names differently from DuckDB: nested extras (a struct, a list),
    a mixed-case extra, an extra typed differently by the two sides, extras named like derived columns (diff_text, Category), a timestamp
    on the window's edges, money within and beyond a tolerance, a duplicate, a rejected row, one-sided rows."""
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from conftest import row

    def side(rows: list[dict]) -> pa.Table:
        table = pa.Table.from_pylist(rows)
        money = [pa.field(f.name, pa.decimal128(18, 2)) if f.name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
                 else f for f in table.schema]
        return table.cast(pa.schema(money))

    extra = {"memo": {"a": "x", "n": 1}, "tags": ["t1", "t2"], "Note": "mixed case", "diff_text": "mine",
             "Category": "theirs"}
    # an extra each side types its own way: DuckDB lines DECIMAL and text up as text ('433.00'), Spark's
    # unionByName alone as DOUBLE ('433.0'); an integer and a double as a double on both
    extra |= {"dedc": Decimal("433.00"), "units": 2}
    theirs = {"dedc": "433.00", "units": 2.5}
    claims = [row("A", **extra), row("B", medfee="100.04", **extra), row("C", medfee="100.09", **extra),
              row("D", **extra), row("D", **extra), row("E", insured="15000X", **extra),
              row("F", when="2026-10-01 00:00:00", **extra), row("G", when="2026-11-01 00:00:00", **extra),
              row("H", **extra)]
    ledger = [row("A", **theirs), row("B", **theirs), row("C", **theirs), row("D", **theirs), row("E", **theirs),
              row("F", when="2026-10-01 00:00:00", **theirs), row("G", when="2026-11-01 00:00:00", **theirs),
              row("I", **theirs)]
    for name, rows in (("claims", claims), ("ledger", ledger)):
        (tmp_path / "m" / name).mkdir(parents=True)
        pq.write_table(side(rows), tmp_path / "m" / name / "part.parquet")
    duck, _, spark, _ = _both(tmp_path, "clear", tmp_path / "m", "--tolerance", "0.05", "--max-rejected", "50%")
    _same(duck, spark)
    exceptions = pq.read_table(pa.BufferReader(spark["exceptions.parquet"])).to_pylist()
    assert {r["category"] for r in exceptions} >= {"duplicate", "rejected", "amount_mismatch", "out_of_period",
                                                   "claim_only", "ledger_only"}
    assert {"extra_diff_text", "extra_Category", "memo", "tags", "Note"} <= set(exceptions[0])
    assert {(r["side"], r["dedc"]) for r in exceptions} == {("claims", "433.00"), ("ledger", "433.00")}


@pytest.mark.slow
def test_the_platforms_verdicts_compare_alike_on_spark(tmp_path):
    """reconcile --platform-result: platform_compare.parquet (read from the categorised rows, with the differing
    columns) is the same from both engines."""
    from conftest import row, write_rows

    month = tmp_path / "m"
    write_rows(month / "claims" / "part.parquet", [row("A"), row("B", fund="60.00"), row("D")])
    write_rows(month / "ledger" / "part.parquet", [row(s, vali_flag="1") for s in "ABCD"])
    result = tmp_path / "3202_result.txt"
    result.write_bytes("P1\tM1\tA\tH1\t0\t0\t对平\t100.00\t70.00\t10.00\n"
                       "P2\tM2\tB\tH2\t0\t0\t对平\t100.00\t70.00\t10.00\n".encode("gb18030"))
    duck, _, spark, _ = _both(tmp_path, "reconcile", month, "--platform-result", result)
    _same(duck, spark)
    assert b"fund_pay_sumamt" in spark["platform_compare.parquet"]


@pytest.mark.slow
def test_reconcile_on_spark_is_reconcile(tmp_path, generated):
    duck, _, spark, _ = _both(tmp_path, "reconcile", generated)
    _same(duck, spark)
    summary = json.loads(spark["summary.json"])
    assert summary["held_records"] > 0  # the generated month holds exceptions of every kind


@pytest.mark.slow
def test_three_workspace_months_carry_alike_on_spark(tmp_path):
    data = tmp_path / "data"
    cli(["sample", data, "--rows", "2000", "--months", "3", "--period", "2026-08", "--seed", "5"])
    runs: dict[str, list[dict[str, bytes]]] = {}
    for name, engine in (("duckdb", ()), ("spark", SPARK)):
        ws = tmp_path / f"ws-{name}"
        runs[name] = []
        for seq, month in enumerate(("2026-08", "2026-09", "2026-10"), 1):
            cli(["clear", "--claims", data / month / "claims", "--ledger", data / month / "ledger", "--period", month,
                 "--workspace", ws, "--no-statements", *engine], 1)
            out = Path(json.loads(cli(["show", str(seq), "--workspace", ws]).stdout)["out_dir"])
            runs[name].append(data_files(out))
    assert sum("carry_forward.parquet" in run for run in runs["duckdb"]) == 3
    carry = json.loads(runs["spark"][2]["summary.json"])["carry_forward"]
    assert carry["carried_in"]["records"] > 0 and carry["resolved"]["items"] > 0
    for duck, spark in zip(runs["duckdb"], runs["spark"], strict=True):
        _same(duck, spark)


@pytest.mark.slow
def test_no_stage_of_the_reconciliation_gathers_the_month_into_one_partition(tmp_path, generated, monkeypatch):
    """The physical plan of every statement of the categorisation on Spark: partial aggregates, hash
    exchanges by setl_id (or the group's columns) and broadcasts of small tables, never an exchange into a
    single partition (which would put the whole month on one executor)."""
    from mediclear_cli import spark_engine
    from mediclear_cli.periods import Period

    monkeypatch.setattr(spark_engine, "RECORD_PLANS", True)
    monkeypatch.setattr(spark_engine, "PLANS", {})
    cli(["reconcile", "--claims", generated / "claims", "--ledger", generated / "ledger", "--period", "2026-10",
         "--out", tmp_path / "out", *SPARK], 1)
    plans = dict(spark_engine.PLANS)
    from mediclear_cli.reconcile import ReconOptions, categorising

    for name in categorising(ReconOptions(Period.parse("2026-10"))):
        if name in (spark_engine.OWN_WAY, "recon/rows"):
            continue  # views: their plans are part of recon/held's
        assert name in plans, name
        assert "Exchange hashpartitioning" in plans[name] or "BroadcastExchange" in plans[name], (name, plans[name])
        assert "SinglePartition" not in plans[name], (name, plans[name])


@pytest.mark.slow
def test_money_in_is_counted_by_duckdb_and_must_be_what_spark_read(tmp_path, monkeypatch):
    """The accounting identity is proved across the engines: DuckDB counts each side's rows and money in from
    the rows it hands Spark, and a Spark that read a cent more (or a row less) stops the run (exit 70)
    before anything is written."""
    from decimal import Decimal

    from mediclear_cli import spark_engine

    real = spark_engine.categorise

    def a_cent_more(*args, **kwargs):
        totals = real(*args, **kwargs)
        totals["claims"]["medfee_sumamt"] += Decimal("0.01")
        return totals

    monkeypatch.setattr(spark_engine, "categorise", a_cent_more)
    result = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
                  "--out", tmp_path / "out", "--pdf", "never", *SPARK], 70)
    assert "Spark read other rows or money than DuckDB" in result.stderr
    assert not (tmp_path / "out").exists()


def test_engine_spark_without_pyspark_exits_78_with_one_line(tmp_path):
    """pyspark missing: one line on how to install it, exit 78, before anything is read or written."""
    hide = tmp_path / "hide"
    (hide / "pyspark").mkdir(parents=True)
    (hide / "pyspark" / "__init__.py").write_text("raise ImportError('no pyspark here')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mediclear_cli", "clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger",
         "--period", "2026-10", "--out", tmp_path / "out", "--engine", "spark"],
        capture_output=True, text=True, env={"PYTHONPATH": str(hide), "PATH": "/usr/bin:/bin", "TZ": "UTC"},
        cwd=tmp_path, check=False)
    assert proc.returncode == 78, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'mediclear[spark]'" in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_is_a_usage_error(tmp_path):
    result = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
                  "--out", tmp_path / "out", "--engine", "polars"], 2)
    assert "--engine 'polars'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("master", ["bogus://x", "local[0]", "local[two]", "mesos://host:5050"])
def test_a_master_spark_cannot_use_is_one_line_before_anything_starts(tmp_path, master):
    result = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
                  "--out", tmp_path / "out", "--engine", "spark", "--spark-master", master], 2)
    assert f"--spark-master {master!r}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    config = tmp_path / "mediclear.toml"
    config.write_text(f'[spark]\nmaster = "{master}"\n', encoding="utf-8")
    result = cli(["--config", config, "clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger",
                  "--period", "2026-10", "--out", tmp_path / "out", "--engine", "spark"], 78)
    assert f"spark.master {master!r}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_spark_settings_come_from_mediclear_toml(tmp_path):
    from mediclear_cli.config import load_config

    path = tmp_path / "mediclear.toml"
    path.write_text('[clear]\nengine = "spark"\n\n[spark]\nmaster = "local[2]"\nsql.shuffle.partitions = 8\n'
                    'sql.adaptive.enabled = true\n', encoding="utf-8")
    settings = load_config(path)
    assert settings.default_map["clear"]["engine"] == "spark"
    assert settings.spark_conf == {"spark.master": "local[2]", "spark.sql.shuffle.partitions": "8",
                                   "spark.sql.adaptive.enabled": "true"}
    path.write_text("[spark]\nmaster = [1, 2]\n", encoding="utf-8")
    with pytest.raises(Exception, match="spark.master"):
        load_config(path)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_while_spark_runs_stops_spark_and_publishes_nothing(tmp_path, large, signum, code, name):
    """Ctrl-C (or SIGTERM) while Spark categorises: exit 130 / 143 with mediclear's one line — not pyspark's
    own handler calling into the JVM from inside the call it interrupts, nor py4j's traceback, nor Spark's
    tasks failing on a scratch folder removed under them — and nothing published, no scratch, no JVM left."""
    scratch = tmp_path / "scratch"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediclear_cli", "clear", "--claims", str(large / "claims"), "--ledger",
         str(large / "ledger"), "--period", "2026-10", "--temp-dir", str(scratch), "--out", str(tmp_path / "run"),
         *SPARK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(scratch.glob("*/spark/*")):
        time.sleep(0.05)  # Spark has begun writing what it computes
    assert proc.poll() is None, "the run ended before Spark began"
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip() and "incubator modules" not in line]
    assert lines == [f"mediclear: error: interrupted ({name}); nothing was published"], err
    assert out == "" and not (tmp_path / "run").exists()
    assert not any(scratch.iterdir())
