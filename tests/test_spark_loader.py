"""Issue 17: the month read and checked on Spark's executors (spark_loader) — the loader's own DuckDB SQL in
Spark's Python workers — gives every data output of the DuckDB engine byte for byte: file groups of other
schemas, text money, float money, a column named like the reader's own, nested extras, a CSV side staged
first, file names Hadoop would take for a pattern. Where the month is loaded is decided by
spark.mediclear.load (auto: the executors, unless the master is local)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import cli, data_files, row

pytest.importorskip("pyspark", reason="the spark extra: pip install '.[spark]'")

SPARK = ("--engine", "spark", "--spark-master", "local[2]")


def _on_executors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mediclear.toml"
    config.write_text('[spark]\n"mediclear.load" = "executors"\n', encoding="utf-8")
    monkeypatch.setenv("MEDICLEAR_CONFIG", str(config))


def _both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claims: Path, ledger: Path, *extra: object,
          code: int = 1) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The month cleared by DuckDB alone, then on Spark loaded by its executors: their data files."""
    runs = []
    for name in ("duckdb", "spark"):
        if name == "spark":
            _on_executors(tmp_path, monkeypatch)
        out = tmp_path / f"out-{name}"
        cli(["clear", "--claims", claims, "--ledger", ledger, "--period", "2026-10", "--out", out, "--pdf", "never",
             *extra, *(SPARK if name == "spark" else ())], code)
        runs.append(data_files(out))
    monkeypatch.delenv("MEDICLEAR_CONFIG")
    return runs[0], runs[1]


def _same(duck: dict[str, bytes], spark: dict[str, bytes]) -> None:
    assert sorted(duck) == sorted(spark)
    for name in duck:
        assert duck[name] == spark[name], name


@pytest.mark.slow
def test_a_generated_month_loaded_on_the_executors_is_the_month(tmp_path, monkeypatch):
    from mediclear_cli import spark_loader
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate

    month = tmp_path / "month"
    generate(month, rows=20_000, period=Period.parse("2026-10"), seed=3)
    loaded: list[str] = []
    real = spark_loader.load

    def spy(con, partitions, side, *args):
        loaded.append(side)
        return real(con, partitions, side, *args)

    monkeypatch.setattr(spark_loader, "load", spy)
    duck, spark = _both(tmp_path, monkeypatch, month / "claims", month / "ledger", "--level", "pool",
                        "--settlement", "bilateral", "--screen", "--regions", month / "regions.parquet",
                        "--prepaid", month / "prepaid.parquet")
    assert loaded == ["claims", "ledger"]  # the month went through the executors' loader, not DuckDB's
    _same(duck, spark)
    assert json.loads(spark["summary.json"])["held_records"] > 0


@pytest.mark.slow
def test_odd_files_loaded_on_the_executors_read_as_duckdb_reads_them(tmp_path, monkeypatch):
    """Claims in four files of four schemas (money as DECIMAL, as text, as float; a column named source_file;
    a struct and a list extra; names with spaces, brackets and Chinese), the ledger a GB18030 CSV: the same
    rows, reject reasons, source files and rows as DuckDB's loader gives."""
    claims, ledger = tmp_path / "m" / "claims", tmp_path / "m" / "ledger"
    claims.mkdir(parents=True)
    ledger.mkdir(parents=True)

    def table(rows: list[dict], money: pa.DataType | None = None) -> pa.Table:
        t = pa.Table.from_pylist(rows)
        typ = money or pa.decimal128(18, 2)
        return t.cast(pa.schema([pa.field(f.name, typ) if f.name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
                                 else f for f in t.schema]))

    pq.write_table(table([row("A", memo={"a": "x", "n": 1}), row("B", medfee="100.05"), row(None)]),
                   claims / "h1 [2026-10] 医院.parquet")
    text = [{**r, **{k: str(r[k]) for k in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")}}
            for r in (row("C", tags=["t1"]), row("D"), row("D"), row("X1", medfee="1e3"))]
    pq.write_table(pa.Table.from_pylist(text), claims / "h2{text}.parquet")
    pq.write_table(table([row("E"), row("F", insured="15000X"), row("Y1", medfee="100.001")], pa.float64()),
                   claims / "h3 float*.parquet")
    pq.write_table(table([row("G", source_file="the hospital's own"), row("H", when="2026-11-01 00:00:00")]),
                   claims / "h4.parquet")
    header = "setl_id,setl_time,medfee_sumamt,fund_pay_sumamt,acct_pay,insuplc_admdvs,mdtrtarea_admvs,备注\n"
    lines = [f"{s},2026-10-15 09:30:00,100.00,70.00,10.00,150000,110000,第{i}行\n"
             for i, s in enumerate(["A", "B", "C", "D", "E", "F", "G", "I", "I"])]
    (ledger / "台账 2026-10.csv").write_bytes((header + "".join(lines)).encode("gb18030"))
    duck, spark = _both(tmp_path, monkeypatch, claims, ledger, "--max-rejected", "50%")
    _same(duck, spark)
    rows = pq.read_table(pa.BufferReader(spark["exceptions.parquet"])).to_pylist()
    assert {r["category"] for r in rows} >= {"rejected", "duplicate", "amount_mismatch", "out_of_period", "ledger_only"}
    assert {Path(r["source_file"]).name for r in rows} >= {"h1 [2026-10] 医院.parquet", "h2{text}.parquet",
                                                           "h3 float*.parquet", "台账 2026-10.csv"}
    assert {r["extra_source_file"] for r in rows if r["setl_id"] == "H"} == {None}
    assert {(r["setl_id"], r["reason"]) for r in rows if r["category"] == "rejected"} >= {
        (None, "missing_setl_id"), ("F", "bad_region_code"), ("X1", "bad_money"), ("Y1", "bad_money")}


@pytest.mark.slow
def test_executors_with_another_duckdb_are_exit_78_in_one_line(tmp_path, monkeypatch):
    """The workers' DuckDB must be the driver's (its rules are the contract's here): another version is the
    executors' set-up (exit 78), said in one line, with nothing written."""
    import duckdb

    from conftest import write_rows

    write_rows(tmp_path / "m" / "claims" / "c.parquet", [row("A")])
    write_rows(tmp_path / "m" / "ledger" / "l.parquet", [row("A"), row("B")])
    _on_executors(tmp_path, monkeypatch)
    monkeypatch.setattr(duckdb, "__version__", "0.0.1")  # the driver's, as the workers will see it
    result = cli(["clear", "--claims", tmp_path / "m" / "claims", "--ledger", tmp_path / "m" / "ledger", "--period",
                  "2026-10", "--out", tmp_path / "out", *SPARK], 78)
    assert "the executors' Python has duckdb" in result.stderr and "0.0.1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_where_the_month_is_loaded():
    """auto: the executors, unless the master is local (there DuckDB on the driver is several times faster);
    mediclear.toml's spark.mediclear.load decides first; a value it does not know is exit 78 before Spark starts."""
    from mediclear_cli import spark_engine
    from mediclear_cli.errors import ConfigError

    def session(master: str) -> SimpleNamespace:
        conf = SimpleNamespace(get=lambda key, default=None: default)
        return SimpleNamespace(sparkContext=SimpleNamespace(master=master, getConf=lambda: conf))

    auto = spark_engine.SparkOptions()
    assert not spark_engine.loads_on_executors(session("local[2]"), auto)
    assert spark_engine.loads_on_executors(session("yarn"), auto)
    assert spark_engine.loads_on_executors(session("k8s://https://host:6443"), auto)
    told = spark_engine.SparkOptions(conf={spark_engine.LOAD_SETTING: "driver"})
    assert not spark_engine.loads_on_executors(session("yarn"), told)
    told = spark_engine.SparkOptions(conf={spark_engine.LOAD_SETTING: "executors"})
    assert spark_engine.loads_on_executors(session("local[2]"), told)
    with pytest.raises(ConfigError, match="spark.mediclear.load 'cluster'"):
        spark_engine.check_options(spark_engine.SparkOptions(conf={spark_engine.LOAD_SETTING: "cluster"}))
