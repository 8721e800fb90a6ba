"""Issue 17: `diff --engine spark` — Spark reads both sides, makes the plan over every row and takes out the
equal pairs; DuckDB explains the rest. Every output (rows, cells, one-sided rows, summary, reports) and the exit
code are the DuckDB engine's, byte for byte, on the cases the DuckDB diff is tested on (duplicates, composite
and mapped keys, keys of different types, CSV in GB18030, floats beyond DECIMAL(38,10), time zones,
tolerances, columns on one side, odd names) and on generated tables of thousands of rows in several files."""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import cli, data_files

pytest.importorskip("pyspark", reason="the spark extra: pip install '.[spark]'")

SPARK = ("--engine", "spark", "--spark-master", "local[2]")


def _both(tmp: Path, left: object, right: object, *options: object, code: int | None = None) -> dict:
    """Diff LEFT and RIGHT (tables written as Parquet, or paths) with each engine; the outputs must be the
    same files with the same bytes, the exit codes the same. Returns the summary."""
    paths = []
    for name, side in (("left", left), ("right", right)):
        if isinstance(side, pa.Table):
            pq.write_table(side, tmp / f"{name}.parquet")
            side = tmp / f"{name}.parquet"
        paths.append(side)
    outputs, summaries, codes = [], [], []
    for engine, extra in (("duckdb", ()), ("spark", SPARK)):
        out = tmp / f"out-{engine}"
        result = cli(["diff", *paths, *options, "--out", out, "--json", *extra], code)
        codes.append(result.exit_code)
        summaries.append(json.loads(result.stdout))
        outputs.append(data_files(out))
    assert codes[0] == codes[1]
    assert summaries[0] == summaries[1]
    assert sorted(outputs[0]) == sorted(outputs[1])
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], name
    return summaries[0]


def test_each_status_composite_and_mapped_keys_and_tolerances(tmp_path):
    left = pa.table({"id": ["A", "B", "C", "C", "E"], "amount": pa.array([D("1.00"), D("2.00"), D("3.00"), D("3.00"),
                                                                          D("5.00")], pa.decimal128(18, 2)),
                     "name": ["x", "y", "z", "z", "e"]})
    right = pa.table({"id": ["A", "B", "C", "D"], "amount": pa.array([D("1.00"), D("2.40"), D("3.00"), D("4.00")],
                                                                     pa.decimal128(18, 2)),
                      "name": ["x", "Y", "z", "d"]})
    summary = _both(tmp_path, left, right, "--key", "id", code=1)
    assert summary["rows"] == {"duplicate_key": 3, "left_only": 1, "right_only": 1, "changed": 1, "equal": 1}
    assert _both(tmp_path, left, right, "--key", "id", "--tolerance", "amount=0.5", "--ignore-case")["rows"]["equal"] == 2
    composite_l = pa.table({"a": ["1", "1"], "b": ["x", "y"], "v": [1, 2]})
    composite_r = pa.table({"k1": ["1", "1"], "b": ["x", "y"], "value": [1, 3]})
    summary = _both(tmp_path, composite_l, composite_r, "--key", "a", "--key", "b", "--map", "a=k1", "--map", "v=value")
    assert summary["rows"]["changed"] == 1 and summary["rows"]["equal"] == 1
    rel_l, rel_r = pa.table({"id": ["a", "b"], "x": [100.0, 100.0]}), pa.table({"id": ["a", "b"], "x": [100.05, 100.2]})
    assert _both(tmp_path, rel_l, rel_r, "--key", "id", "--tolerance", "0.1%")["columns"]["x"]["rows_differ"] == 1


def test_a_difference_in_the_tenth_decimal_place_is_one_on_spark_too(tmp_path):
    """Spark's default decimal arithmetic would round DECIMAL(38,10) - DECIMAL(38,10) to 9 places."""
    wide = pa.decimal128(38, 10)
    left = pa.table({"id": ["a", "b"], "x": pa.array([D("1.0000000001"), D("2")], wide)})
    right = pa.table({"id": ["a", "b"], "x": pa.array([D("1.0000000000"), D("2")], wide)})
    summary = _both(tmp_path, left, right, "--key", "id", code=1)
    assert summary["rows"]["changed"] == 1 and summary["columns"]["x"]["max_abs_difference"] == "1E-10"


def test_csv_in_gb18030_and_keys_of_other_types(tmp_path):
    (tmp_path / "l.csv").write_bytes("id,name,amount\n1,张三,10.00\n2,李四,20.00\n".encode("gb18030"))
    (tmp_path / "r.csv").write_bytes("id,name,amount\n1,张三,10.00\n2,李四,20.50\n".encode("gb18030"))
    summary = _both(tmp_path, tmp_path / "l.csv", tmp_path / "r.csv", "--key", "id", "--encoding", "gb18030", code=1)
    assert summary["columns"]["amount"]["kind"] == "number" and summary["rows"]["changed"] == 1
    (tmp_path / "k.csv").write_text("id,day,amount\n1,2026-10-01,10.00\n2,2026-10-02,20.00\n", encoding="utf-8")
    typed = pa.table({"id": pa.array([1, 2], pa.int64()), "day": pa.array([date(2026, 10, 1), date(2026, 10, 2)]),
                      "amount": [10.0, 20.5]})
    pq.write_table(typed, tmp_path / "typed.parquet")
    assert _both(tmp_path, tmp_path / "k.csv", tmp_path / "typed.parquet", "--key", "id", code=1)["rows"]["left_only"] == 0
    assert _both(tmp_path, tmp_path / "k.csv", tmp_path / "typed.parquet", "--key", "day", "--columns", "amount",
                 code=1)["rows"]["changed"] == 1
    small = pa.table({"id": pa.array([1, 2], pa.int32()), "v": ["a", "b"]})
    big = pa.table({"id": pa.array([1, 2], pa.int64()), "v": ["a", "b"]})
    assert _both(tmp_path, small, big, "--key", "id", code=0)["identical"]


def test_floats_beyond_decimal_time_zones_and_blanks(tmp_path):
    left = pa.table({"id": ["a", "b", "c", "d", "e"], "x": [math.inf, 1e30, 1e300, 5.0, math.nan]})
    right = pa.table({"id": ["a", "b", "c", "d", "e"], "x": [-math.inf, 2e30, None, 5.0, math.nan]})
    assert _both(tmp_path, left, right, "--key", "id", code=1)["columns"]["x"]["rows_differ"] >= 3
    big = pa.decimal128(38, 0)
    summary = _both(tmp_path, pa.table({"id": ["a"], "x": pa.array([D("1" * 30)], big)}),
                    pa.table({"id": ["a"], "x": pa.array([D("1" * 29 + "2")], big)}), "--key", "id", code=1)
    assert summary["rows"]["changed"] == 1
    zoned = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1, 2, tzinfo=timezone.utc)],
                                                 pa.timestamp("us", tz="UTC"))})
    naive = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1, 10)], pa.timestamp("us"))})
    _both(tmp_path, naive, zoned, "--key", "id", code=1)
    assert _both(tmp_path, naive, zoned, "--key", "id", "--assume-tz", "Asia/Shanghai", code=0)["identical"]
    day = pa.table({"id": ["a"], "t": pa.array([date(2026, 10, 1)])})
    midnight = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1)], pa.timestamp("us"))})
    assert _both(tmp_path, day, midnight, "--key", "id", code=0)["identical"]
    spaced = (pa.table({"id": ["A1 ", "B1"], "v": ["x\t", "y\n"]}), pa.table({"id": ["A1", "B1"], "v": ["x", " y"]}))
    assert _both(tmp_path, *spaced, "--key", "id", "--ignore-spaces", code=0)["identical"]
    _both(tmp_path, *spaced, "--key", "id", code=1)


def test_columns_on_one_side_odd_names_and_personal_data(tmp_path):
    base = {"id": ["a"], "v": [1]}
    _both(tmp_path, pa.table(base | {"extra": [1]}), pa.table(base), "--key", "id", code=1)
    _both(tmp_path, pa.table(base | {"b": [1]}), pa.table(base | {"B": [2]}), "--key", "id", "--match-case-insensitive",
          code=1)
    internal = (pa.table({"id": ["a", "b"], "_row": [1, 2], "file_row_number": [7, 8]}),
                pa.table({"id": ["a", "b"], "_row": [1, 3], "file_row_number": [7, 8]}))
    _both(tmp_path, *internal, "--key", "id", code=1)
    hostile = (pa.table({"bank.k": ["1", "2"], 'we"ird': [D("1.00"), D("2.00")], "it's": ["a", "b"]}),
               pa.table({"bank.k": ["1", "2"], 'we"ird': [D("1.00"), D("2.50")], "it's": ["a", "c"]}))
    assert _both(tmp_path, *hostile, "--key", "bank.k", code=1)["rows"]["changed"] == 1
    people = (pa.table({"id": ["a", "b"], "v": ["x", "only left"], "certno": ["11010519491231002X", "1"]}),
              pa.table({"id": ["a", "c"], "v": ["x", "only right"], "certno": ["11010519491231002X", "2"]}))
    _both(tmp_path, *people, "--key", "id", code=1)
    assert "11010519491231002X" not in (tmp_path / "out-spark" / "diff_left_only.parquet").read_bytes().decode("latin-1")


def test_rows_whose_key_is_null_diff_alike(tmp_path):
    """Spark pairs keys by `=`, so a row with a NULL key (or a NULL part of one) is never paired there: it is
    kept, and DuckDB pairs and compares it as the DuckDB engine does."""
    left = pa.table({"id": [None, "A", "B", None], "part": [1, None, 2, 3], "v": [1, 2, 3, 9]})
    right = pa.table({"id": [None, "A", "B", "C"], "part": [1, None, 2, 3], "v": [1, 2, 4, 9]})
    composite = _both(tmp_path, left, right, "--key", "id", "--key", "part", code=1)
    assert composite["rows"]["equal"] >= 1
    single = _both(tmp_path, left.slice(0, 3), right.slice(0, 3), "--key", "id", code=1)
    assert single["rows"]["changed"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1])
def test_generated_tables_in_several_files_diff_alike(tmp_path, seed):
    """Thousands of rows a side in three files each, columns added in a later file, every kind of
    difference at random: the engines agree on every output."""
    rng = random.Random(seed)
    n = 6000
    ids = [f"S{i:06d}" for i in range(n)]
    amounts = [D(rng.randrange(0, 10**7)) / 100 for _ in range(n)]
    names = [rng.choice(["张三", "李四", "王五", " 赵六", "Ab"]) for _ in range(n)]
    times = [datetime(2026, 10, 1) if rng.random() < 0.5 else None for _ in range(n)]
    right_ids, right_amounts, right_names = list(ids), list(amounts), list(names)
    for i in rng.sample(range(n), 300):
        right_amounts[i] += D(rng.choice(["0.01", "-0.02", "100"]))  # 0.01 is within the tolerance
    for i in rng.sample(range(n), 200):
        right_names[i] = right_names[i].lower() + "x"
    for i in rng.sample(range(n), 50):
        right_ids[i] = f"R{i:06d}"  # a left-only and a right-only row
    dup = rng.sample(range(n), 20)
    money = pa.decimal128(18, 2)

    def write(side: str, rows_ids: list, rows_amounts: list, rows_names: list, extra: bool) -> Path:
        folder = tmp_path / side
        folder.mkdir()
        thirds = [range(0, n // 3), range(n // 3, 2 * n // 3), range(2 * n // 3, n)]
        for part, rows in enumerate(thirds):
            cols = {"id": [rows_ids[i] for i in rows], "amount": pa.array([rows_amounts[i] for i in rows], money),
                    "name": [rows_names[i] for i in rows]}
            if extra and part == 2:
                cols["t"] = pa.array([times[i] for i in rows], pa.timestamp("us"))
            pq.write_table(pa.table(cols), folder / f"part-{part}.parquet")
        return folder

    left = write("left", ids, amounts, names, True)
    pq.write_table(pa.table({"id": [ids[i] for i in dup], "amount": pa.array([amounts[i] for i in dup], money),
                             "name": [names[i] for i in dup]}), left / "part-3.parquet")
    right = write("right", right_ids, right_amounts, right_names, False)
    summary = _both(tmp_path, left, right, "--key", "id", "--tolerance", "amount=0.01", code=1)
    assert summary["rows"]["duplicate_key"] >= 20 and summary["rows"]["equal"] > n // 2
    assert summary["totals"]["left"]["rows"] == n + len(dup)


def test_no_stage_of_the_diff_on_spark_gathers_the_rows_into_one_partition(tmp_path, monkeypatch):
    """The row-level work (pairing by key, comparing, keeping what is not an equal pair) exchanges rows by a
    hash of the keys, never into a single partition."""
    from mediclear_cli import spark_engine

    monkeypatch.setattr(spark_engine, "RECORD_PLANS", True)
    monkeypatch.setattr(spark_engine, "PLANS", {})
    left = pa.table({"id": [f"k{i}" for i in range(500)], "v": list(range(500))})
    right = pa.table({"id": [f"k{i}" for i in range(500)], "v": [i + (i % 7 == 0) for i in range(500)]})
    pq.write_table(left, tmp_path / "l.parquet")
    pq.write_table(right, tmp_path / "r.parquet")
    cli(["diff", tmp_path / "l.parquet", tmp_path / "r.parquet", "--key", "id", *SPARK], 1)
    plans = dict(spark_engine.PLANS)
    assert sorted(plans) == ["diff/pairs"]  # one pass: pairing, comparing and keeping
    for name, plan in plans.items():
        assert "Exchange hashpartitioning" in plan or "BroadcastExchange" in plan, (name, plan)
        assert "SinglePartition" not in plan, (name, plan)


def test_inputs_spark_reads_are_handed_to_it_as_they_are_given(tmp_path, monkeypatch):
    """A path with a scheme (hdfs://, s3a://) is Spark's to read: here file:// URIs taken as such."""
    from mediclear_cli import diff_spark

    left = pa.table({"id": ["a", "b"], "v": [1, 2]})
    right = pa.table({"id": ["a", "b"], "v": [1, 3]})
    pq.write_table(left, tmp_path / "l.parquet")
    pq.write_table(right, tmp_path / "r.parquet")
    monkeypatch.setattr(diff_spark, "is_remote", lambda path: path.startswith("file:"))
    result = cli(["diff", (tmp_path / "l.parquet").as_uri(), (tmp_path / "r.parquet").as_uri(), "--key", "id",
                  "--out", tmp_path / "o", "--json", *SPARK], 1)
    assert json.loads(result.stdout)["rows"]["changed"] == 1
    rows = pq.read_table(tmp_path / "o" / "diff_rows.parquet").to_pylist()
    assert [(r["id"], r["row_number"]) for r in rows] == [("b", 2)]
    missing = cli(["diff", (tmp_path / "l.parquet").as_uri(), (tmp_path / "nowhere.parquet").as_uri(), "--key", "id",
                   *SPARK], 66)
    assert "nowhere.parquet" in missing.stderr and "Traceback" not in missing.stderr


def test_bad_inputs_on_spark_are_one_line_with_the_contracts_codes(tmp_path):
    pq.write_table(pa.table({"id": ["a"], "v": [1]}), tmp_path / "l.parquet")
    pq.write_table(pa.table({"id": ["a"], "__mc_row": [1]}), tmp_path / "clash.parquet")
    cli(["diff", tmp_path / "l.parquet", tmp_path / "clash.parquet", "--key", "id", *SPARK], 2)
    cli(["diff", tmp_path / "l.parquet", tmp_path / "l.parquet", "--key", "nope", *SPARK], 2)
    cli(["diff", tmp_path / "l.parquet", tmp_path / "missing.parquet", "--key", "id", *SPARK], 66)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"id": ["a"], "v": [1]}), mixed / "a.parquet")
    pq.write_table(pa.table({"id": ["b"], "v": ["text"]}), mixed / "b.parquet")
    result = cli(["diff", tmp_path / "l.parquet", mixed, "--key", "id", *SPARK], 65)
    assert "Traceback" not in result.stderr
