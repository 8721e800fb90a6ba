"""Issue 16: a month categorised in many partitions by setl_id (inputs.Partitions, reconcile's partitioned
plan) gives every data output byte for byte as the month run whole — the sample month, a generated month at
pool level with bilateral settlement and prepaid accounts, and three chained workspace months."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, data_files

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def _clear(monkeypatch, partitions: int, out: Path, month: Path, *extra: str, code: int = 1) -> dict[str, bytes]:
    monkeypatch.setenv("MEDICLEAR_PARTITIONS", str(partitions))
    cli(["clear", "--claims", month / "claims", "--ledger", month / "ledger", "--period", "2026-10", "--out", out,
         "--pdf", "never", *extra], code)
    return data_files(out)


@pytest.mark.parametrize("extra", [
    (),
    ("--level", "pool", "--settlement", "bilateral", "--regions", SAMPLE / "regions.parquet",
     "--prepaid", SAMPLE / "prepaid.parquet"),
])
def test_the_sample_month_in_seven_partitions_is_the_sample_month(tmp_path, monkeypatch, extra):
    whole = _clear(monkeypatch, 1, tmp_path / "whole", SAMPLE, *extra)
    parted = _clear(monkeypatch, 7, tmp_path / "parted", SAMPLE, *extra)
    assert sorted(whole) == sorted(parted)
    for name in whole:
        assert whole[name] == parted[name], name


def test_a_generated_month_in_many_partitions_is_the_month(tmp_path, monkeypatch, generated):
    extra = ("--level", "pool", "--settlement", "bilateral", "--prepaid", generated / "prepaid.parquet",
             "--regions", generated / "regions.parquet", "--screen")
    whole = _clear(monkeypatch, 1, tmp_path / "whole", generated, *extra)
    for partitions in (3, 16):
        parted = _clear(monkeypatch, partitions, tmp_path / f"p{partitions}", generated, *extra)
        assert sorted(whole) == sorted(parted)
        for name in whole:
            assert whole[name] == parted[name], (partitions, name)


def test_more_partitions_than_are_written_read_each_written_one_in_parts(tmp_path, monkeypatch, generated):
    """A plan of more partitions than one COPY writes (inputs.MAX_WRITTEN_PARTITIONS): 3 written partitions
    per side hold 9 (and 7, rounded up to 9); each is read three times, a third of its ids each time."""
    from mediclear_cli import inputs
    from mediclear_cli.inputs import Partitions

    monkeypatch.setattr(inputs, "MAX_WRITTEN_PARTITIONS", 3)
    assert (Partitions.plan(7, tmp_path).count, Partitions.plan(7, tmp_path).written) == (9, 3)
    extra = ("--level", "pool", "--settlement", "bilateral", "--prepaid", generated / "prepaid.parquet",
             "--regions", generated / "regions.parquet")
    whole = _clear(monkeypatch, 1, tmp_path / "whole", generated, *extra)
    parted = _clear(monkeypatch, 7, tmp_path / "p7", generated, *extra)
    assert json.loads((tmp_path / "p7" / "manifest.json").read_text(encoding="utf-8"))["resources"]["partitions"] == 9
    assert sorted(whole) == sorted(parted)
    for name in whole:
        assert whole[name] == parted[name], name


def test_a_large_month_writes_its_scratch_in_zstd_and_changes_nothing(tmp_path, monkeypatch, generated):
    """Above inputs.COMPACT_SCRATCH_ABOVE_ROWS (lowered here to 0) the partitions and what each yields are
    written with ZSTD: the files the categorisation reads are ZSTD, and every data output is as before."""
    import pyarrow.parquet as pq

    from mediclear_cli import inputs, reconcile

    assert "zstd" not in inputs.Partitions.plan(4, tmp_path, rows=10_000).parquet
    seen: list[str] = []
    categorise = reconcile._categorise_partitions

    def spy(con, options, parts):
        files = parts.files("claims") + parts.files("ledger")
        seen.extend(pq.read_metadata(f).row_group(0).column(0).compression for f in files)
        return categorise(con, options, parts)

    whole = _clear(monkeypatch, 1, tmp_path / "whole", generated)
    monkeypatch.setattr(inputs, "COMPACT_SCRATCH_ABOVE_ROWS", 0)
    monkeypatch.setattr(reconcile, "_categorise_partitions", spy)
    parted = _clear(monkeypatch, 5, tmp_path / "p5", generated)
    assert seen and set(seen) == {"ZSTD"}
    assert sorted(whole) == sorted(parted)
    for name in whole:
        assert whole[name] == parted[name], name


@pytest.mark.parametrize("cap", [16, 2])
def test_three_workspace_months_carry_alike_in_one_and_many_partitions(tmp_path, monkeypatch, cap):
    from mediclear_cli import inputs

    monkeypatch.setattr(inputs, "MAX_WRITTEN_PARTITIONS", cap)  # 2: the carried rows join partitions read in parts
    data = tmp_path / "data"
    cli(["sample", data, "--rows", "2000", "--months", "3", "--period", "2026-08", "--seed", "5"])
    runs: dict[int, list[dict[str, bytes]]] = {}
    for partitions in (1, 5):
        monkeypatch.setenv("MEDICLEAR_PARTITIONS", str(partitions))
        ws = tmp_path / f"ws{partitions}"
        runs[partitions] = []
        for seq, month in enumerate(("2026-08", "2026-09", "2026-10"), 1):
            cli(["clear", "--claims", data / month / "claims", "--ledger", data / month / "ledger", "--period", month,
                 "--workspace", ws, "--no-statements"], 1)
            out = Path(json.loads(cli(["show", str(seq), "--workspace", ws]).stdout)["out_dir"])
            runs[partitions].append(data_files(out))
    carried = [run for run in runs[1] if "carry_forward.parquet" in run]
    assert len(carried) == 3
    for whole, parted in zip(runs[1], runs[5], strict=True):
        assert sorted(whole) == sorted(parted)
        for name in whole:
            assert whole[name] == parted[name], name


def test_empty_partitions_and_an_empty_side_change_nothing(tmp_path, monkeypatch, month):
    """Most of 16 partitions of a 3-row month hold no row; then a month whose claims file has no row at all."""
    from conftest import row, write_rows

    paths = month([row("A"), row("B", medfee="100.01"), row("C")], [row("A"), row("B"), row("D")])
    small = tmp_path / "small"
    for side, path in zip(("claims", "ledger"), paths, strict=True):
        (small / side).mkdir(parents=True)
        path.rename(small / side / "part.parquet")
    whole = _clear(monkeypatch, 1, tmp_path / "w1", small)
    assert whole == _clear(monkeypatch, 16, tmp_path / "w16", small)
    empty = tmp_path / "empty"
    (empty / "claims").mkdir(parents=True)
    (empty / "ledger").mkdir(parents=True)
    write_rows(empty / "claims" / "part.parquet", [])
    (small / "ledger" / "part.parquet").rename(empty / "ledger" / "part.parquet")
    assert _clear(monkeypatch, 1, tmp_path / "e1", empty) == _clear(monkeypatch, 3, tmp_path / "e3", empty)


def test_the_default_limit_keeps_a_1m_month_whole_and_splits_a_10m_month(tmp_path, monkeypatch):
    """The plan under clear's default limit (engine.CLEARING_MEMORY_LIMIT): a 1M-row month (2.04M rows, both
    sides) runs whole, as fast as under DuckDB's default; a 10M-row month in about ten partitions, written as
    at most 1300MB / 64 MiB of them (BENCHMARKS.md, session 7)."""
    import duckdb

    from mediclear_cli import engine
    from mediclear_cli.errors import UsageError
    from mediclear_cli.inputs import Partitions

    monkeypatch.delenv("MEDICLEAR_PARTITIONS", raising=False)
    con = duckdb.connect()
    con.execute("SET memory_limit = $v", {"v": engine.CLEARING_MEMORY_LIMIT})
    assert engine.partitions_for(con, 2_043_035) == 1
    assert engine.partitions_for(con, 20_433_097) == 10
    assert engine.partitions_for(con, None) == 1
    limit = engine.threads_and_limit(con)[1]
    big = Partitions.plan(engine.partitions_for(con, 204_326_730), tmp_path, limit)
    assert big.written == 19 and big.count % 19 == 0 and big.count >= 95
    assert Partitions.plan(5, tmp_path, 100 * 2**20).written == 2  # a tiny limit still writes two at a time
    monkeypatch.setenv("MEDICLEAR_PARTITIONS", "0")
    with pytest.raises(UsageError, match="MEDICLEAR_PARTITIONS"):
        engine.partitions_for(con, 10)
