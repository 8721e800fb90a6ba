"""Issue 17: `clear` and `reconcile --engine spark` read the month where Spark reads it (hdfs://, s3a://, ...).

The remote store here is a viewfs:// mount table over a local folder: a scheme this machine's file system does
not open, resolved by Hadoop's own client with the session's Hadoop settings — the path hdfs:// and s3a://
take. The run must be the run of the same files read locally: the same run id, the same input hashes, every
data output the same once the files are named by their URIs; and verify re-hashes the inputs where they lie.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import cli, data_files

pytest.importorskip("pyspark", reason="the spark extra: pip install '.[spark]'")

SPARK = ("--engine", "spark", "--spark-master", "local[2]")


@pytest.fixture
def lake(tmp_path: Path) -> tuple[str, Path]:
    """(the store's URI, the local folder it mounts): viewfs://<unique>/month -> tmp_path/store."""
    from mediclear_cli import spark_engine

    spark = spark_engine.session(spark_engine.SparkOptions("local[2]"))
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    name = f"lake{uuid.uuid4().hex[:8]}"  # a mount table of its own: Hadoop caches a file system per authority
    store = tmp_path / "store"
    store.mkdir()
    conf.set(f"fs.viewfs.mounttable.{name}.link./month", store.as_uri())
    return f"viewfs://{name}/month", store


def _month(generated: Path, store: Path) -> None:
    """The generated month in the store: the claims as Parquet files in a folder, the ledger as CSV text (staged
    on this machine after it is fetched), and a hidden file and a _SUCCESS marker a listing must leave out."""
    shutil.copytree(generated / "claims", store / "claims")
    (store / "ledger").mkdir()
    for number, part in enumerate(sorted((generated / "ledger").glob("*.parquet"))):
        pacsv.write_csv(pq.read_table(part), store / "ledger" / f"ledger-{number}.csv")
    (store / "claims" / "_SUCCESS").write_bytes(b"")
    (store / "claims" / ".part-0001.parquet.crc").write_bytes(b"not an input")


def _named_locally(value: object, uri: str, store: Path) -> object:
    return value.replace(uri, str(store)) if isinstance(value, str) else value


@pytest.mark.slow
def test_a_month_read_from_a_remote_store_is_the_month_read_here(tmp_path, generated, lake):
    uri, store = lake
    _month(generated, store)
    local, remote = tmp_path / "local", tmp_path / "remote"
    common = ("--period", "2026-10", "--pdf", "never", "--level", "pool", "--settlement", "bilateral")
    cli(["clear", "--claims", store / "claims", "--ledger", store / "ledger", "--out", local, *common], 1)
    cli(["clear", "--claims", f"{uri}/claims", "--ledger", f"{uri}/ledger", "--out", remote, *common, *SPARK], 1)

    here, there = (json.loads((out / "manifest.json").read_text(encoding="utf-8")) for out in (local, remote))
    assert there["run_id"] == here["run_id"]  # the same bytes and options: the same run
    assert [(e["role"], e["sha256"], e["bytes"]) for e in there["inputs"]] == \
        [(e["role"], e["sha256"], e["bytes"]) for e in here["inputs"]]
    assert [e["file"] for e in there["inputs"]] == [e["file"].replace(str(store), uri) for e in here["inputs"]]
    assert all(e["file"].startswith(f"{uri}/") for e in there["inputs"])
    assert [r["table"] for e in there["inputs"] for r in e.get("read_as", [])] == \
        [r["table"].replace(str(store), uri) for e in here["inputs"] for r in e.get("read_as", [])]

    # every data output the same, the files named by their URIs
    ours, theirs = data_files(local), data_files(remote)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        if name in ("exceptions.parquet", "statements.xlsx"):
            continue
        assert ours[name] == theirs[name], name
    held_here, held_there = pq.read_table(local / "exceptions.parquet"), pq.read_table(remote / "exceptions.parquet")
    assert held_there.num_rows == held_here.num_rows > 0
    files = held_there.column("source_file").to_pylist()
    assert set(files) and all(f.startswith(f"{uri}/") for f in files)
    renamed = held_there.set_column(held_there.schema.get_field_index("source_file"), "source_file",
                                    pa.array([_named_locally(f, uri, store) for f in files], pa.string()))
    assert renamed.equals(held_here)
    book_here, book_there = (openpyxl.load_workbook(out / "statements.xlsx", read_only=True) for out in (local, remote))
    assert book_here.sheetnames == book_there.sheetnames
    for sheet in book_here.sheetnames:
        cells_here = list(book_here[sheet].iter_rows(values_only=True))
        cells_there = [tuple(_named_locally(v, uri, store) for v in row) for row in book_there[sheet].iter_rows(values_only=True)]
        assert cells_there == cells_here, sheet
    assert not any(str(tmp_path) in f and "fetched" in f for f in files)  # never the scratch copy

    # verify re-hashes the inputs where they lie, and sees one change under the run's feet
    cli(["verify", remote])
    ledger_file = sorted((store / "ledger").glob("*.csv"))[0]
    ledger_file.write_bytes(ledger_file.read_bytes().replace(b"\n", b"\r\n", 1))
    changed = cli(["verify", remote], 65)
    assert f"{uri}/ledger/{ledger_file.name}: input SHA-256 differs" in changed.stderr
    ledger_file.unlink()
    gone = cli(["verify", remote], 65)
    assert f"{uri}/ledger/{ledger_file.name}: input not found" in gone.stderr
    cli(["verify", "--outputs-only", remote])


@pytest.mark.slow
def test_reconcile_reads_a_remote_month_and_a_glob_of_it(tmp_path, generated, lake):
    uri, store = lake
    shutil.copytree(generated / "claims", store / "claims")
    shutil.copytree(generated / "ledger", store / "ledger")
    local, remote = tmp_path / "local", tmp_path / "remote"
    cli(["reconcile", "--claims", store / "claims", "--ledger", store / "ledger", "--period", "2026-10",
         "--out", local], 1)
    cli(["reconcile", "--claims", f"{uri}/claims/*.parquet", "--ledger", f"{uri}/ledger", "--period", "2026-10",
         "--out", remote, *SPARK], 1)
    ours, theirs = data_files(local), data_files(remote)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        if name not in ("exceptions.parquet", "statements.xlsx"):
            assert ours[name] == theirs[name], name


@pytest.mark.slow
def test_a_remote_path_that_is_not_there_is_one_line_and_nothing_is_written(tmp_path, generated, lake):
    uri, store = lake
    shutil.copytree(generated / "ledger", store / "ledger")
    out = tmp_path / "run"
    month = ("--period", "2026-10", "--out", out)
    missing = cli(["clear", "--claims", f"{uri}/claims", "--ledger", f"{uri}/ledger", *month, *SPARK], 66)
    assert missing.stderr.strip().endswith(f"{uri}/claims: claims input not found")
    no_match = cli(["clear", "--claims", f"{uri}/ledger/*.csv", "--ledger", f"{uri}/ledger", *month, *SPARK], 66)
    assert "pattern matches no file" in no_match.stderr
    (store / "empty").mkdir()
    (store / "empty" / "_SUCCESS").write_bytes(b"")
    empty = cli(["clear", "--claims", f"{uri}/empty", "--ledger", f"{uri}/ledger", *month, *SPARK], 66)
    assert "no input files" in empty.stderr
    for result in (missing, no_match, empty):
        assert "Traceback" not in result.stderr and "py4j" not in result.stderr.lower()
    assert not out.exists()


def test_a_remote_path_without_spark_or_for_a_small_file_is_a_usage_error(tmp_path):
    sample = Path(__file__).resolve().parent.parent / "sample_data"
    out = tmp_path / "run"
    on_duckdb = cli(["clear", "--claims", "hdfs://namenode/month/claims", "--ledger", sample / "ledger",
                     "--period", "2026-10", "--out", out], 2)
    assert "hdfs://namenode/month/claims: a path this machine does not read" in on_duckdb.stderr
    assert "--engine spark" in on_duckdb.stderr
    prepaid = cli(["clear", "--claims", sample / "claims", "--ledger", sample / "ledger", "--prepaid",
                   "s3a://bucket/prepaid.parquet", "--period", "2026-10", "--out", out, *SPARK], 2)
    assert "s3a://bucket/prepaid.parquet: a path this machine does not read" in prepaid.stderr
    assert not out.exists()


def test_a_local_folder_whose_name_looks_like_a_uri_is_a_local_folder(tmp_path, monkeypatch):
    from mediclear_cli.remote import is_remote

    monkeypatch.chdir(tmp_path)
    assert is_remote("hdfs://namenode/x") and is_remote("s3a://bucket/month/") and is_remote("viewfs://lake/m")
    assert not is_remote("file:///tmp/x") and not is_remote("/tmp/x") and not is_remote("claims:2026")
    (tmp_path / "s3a:").mkdir()
    (tmp_path / "s3a:" / "bucket").mkdir()
    assert not is_remote("s3a://bucket")  # it exists here (s3a:/bucket): a folder, not a store


def test_a_spark_prefixed_key_inside_the_spark_table_is_refused(tmp_path):
    from mediclear_cli.config import load_config
    from mediclear_cli.errors import ConfigError

    path = tmp_path / "mediclear.toml"
    path.write_text('[spark]\n"spark.hadoop.fs.s3a.endpoint" = "http://minio:9000"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="without its spark"):
        load_config(path)
    path.write_text('[spark]\n"hadoop.fs.s3a.endpoint" = "http://minio:9000"\n', encoding="utf-8")
    assert load_config(path).spark_conf == {"spark.hadoop.fs.s3a.endpoint": "http://minio:9000"}


@pytest.mark.slow
def test_a_signal_that_py4j_swallowed_stops_the_fetch_after_the_call(tmp_path, generated, lake, monkeypatch):
    """py4j takes an exception raised while it sends a command (Ctrl-C's) for a network error and sends the
    command again: the run would go on and publish. The signal is remembered (errors.stopped_by) and honoured
    after each call to Hadoop's client."""
    import signal

    from mediclear_cli import errors, remote, spark_engine
    from mediclear_cli.errors import Interrupted

    uri, store = lake
    shutil.copytree(generated / "claims", store / "claims")
    spark = spark_engine.session(spark_engine.SparkOptions("local[2]"))
    monkeypatch.setattr(errors, "stopped_by", [signal.SIGINT])
    with pytest.raises(Interrupted):
        remote.fetch(spark, {"claims": [f"{uri}/claims"]}, tmp_path / "fetched")
    assert not any((tmp_path / "fetched").rglob("*.parquet"))
    monkeypatch.setattr(errors, "stopped_by", [])
    fetched = remote.fetch(spark, {"claims": [f"{uri}/claims"]}, tmp_path / "fetched")
    assert len(fetched["claims"]) == len(list((store / "claims").glob("*.parquet")))


@pytest.mark.slow
def test_diff_on_spark_reads_a_remote_store_as_the_same_files_here(tmp_path, lake):
    """diff --engine spark hands a remote path to Spark as it is: the outputs are the local diff's, each row
    named by its file's URI instead of its path."""
    uri, store = lake
    for side, bump in (("left", 0), ("right", 1)):
        (store / side).mkdir()
        for part in range(2):
            ids = [f"k{part}-{i}" for i in range(300)] + [f"{side}-only-{part}"]  # changed pairs, one-sided rows
            values = [i + (bump if i % 50 == 0 else 0) for i in range(300)] + [7]
            pq.write_table(pa.table({"id": ids, "v": values}), store / side / f"part-{part}.parquet")
    here, there = tmp_path / "here", tmp_path / "there"
    cli(["diff", store / "left", store / "right", "--key", "id", "--out", here], 1)
    cli(["diff", f"{uri}/left", f"{uri}/right", "--key", "id", "--out", there, *SPARK], 1)
    rows_here = pq.read_table(here / "diff_rows.parquet").to_pylist()
    rows_there = pq.read_table(there / "diff_rows.parquet").to_pylist()
    assert len(rows_there) == len(rows_here) == 16
    files = [r["file"] for r in rows_there if r["file"] is not None]
    assert len(files) == 4 and all(f.startswith(f"{uri}/") for f in files)
    assert [{k: _named_locally(v, uri, store) for k, v in r.items()} for r in rows_there] == rows_here


@pytest.mark.slow
def test_a_remote_file_named_twice_is_read_once_and_one_store_is_not_both_sides(tmp_path, generated, lake):
    """As for local paths: a folder and a file in it name that file once (its rows are not read twice); the
    same remote files given as claims and as ledger are refused (exit 2), naming the URI."""
    from mediclear_cli import remote, spark_engine
    from mediclear_cli.inputs import resolve_paths

    uri, store = lake
    shutil.copytree(generated / "claims", store / "claims")
    first = sorted((store / "claims").glob("*.parquet"))[0].name
    spark = spark_engine.session(spark_engine.SparkOptions("local[2]"))
    fetched = remote.fetch(spark, {"claims": [f"{uri}/claims", f"{uri}/claims/{first}"]}, tmp_path / "fetched")
    assert len(resolve_paths(fetched["claims"], "claims")) == len(list((store / "claims").glob("*.parquet")))
    assert len(list((tmp_path / "fetched").rglob("*.parquet"))) == len(list((store / "claims").glob("*.parquet")))
    both = cli(["clear", "--claims", f"{uri}/claims", "--ledger", f"{uri}/claims", "--period", "2026-10",
                "--out", tmp_path / "run", *SPARK], 2)
    assert f"{uri}/claims/" in both.stderr and "given as both a claims and a ledger input" in both.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_loaded_on_the_executors_remote_parquet_is_read_where_it_lies(tmp_path, generated, lake, monkeypatch):
    """With the month loaded on Spark's executors, a remote Parquet file is not copied here: Spark reads it in
    the store, this machine reads its footer alone (a sparse stand-in) and hashes its bytes through Hadoop's
    client. The run is still the run of the same files held locally: run id, input hashes, every output."""
    from mediclear_cli import remote

    uri, store = lake
    _month(generated, store)
    # _month's stray .crc would be taken by Hadoop's local file system (under the viewfs mount) as the file's
    # checksums when Spark reads its rows: an artifact of a local store, not of HDFS or S3
    (store / "claims" / ".part-0001.parquet.crc").unlink()
    copied, stood_in = [], []
    real_copy, real_stand_in = remote._copy, remote.footer_stand_in

    def copy(spark, file, target):
        copied.append(file.name)
        return real_copy(spark, file, target)

    def stand_in(spark, file, target):
        real_stand_in(spark, file, target)
        assert target.stat().st_blocks * 512 < min(file.size, 1 << 20)  # sparse: the rows are not here
        stood_in.append(file.name)

    monkeypatch.setattr(remote, "_copy", copy)
    monkeypatch.setattr(remote, "footer_stand_in", stand_in)
    config = tmp_path / "mediclear.toml"
    config.write_text('[spark]\n"mediclear.load" = "executors"\n', encoding="utf-8")
    local, there = tmp_path / "local", tmp_path / "remote"
    common = ("--period", "2026-10", "--pdf", "never")
    cli(["clear", "--claims", store / "claims", "--ledger", store / "ledger", "--out", local, *common], 1)
    cli(["--config", config, "clear", "--claims", f"{uri}/claims", "--ledger", f"{uri}/ledger", "--out", there,
         *common, *SPARK], 1)
    assert sorted(stood_in) == sorted(p.name for p in (store / "claims").glob("*.parquet"))
    assert sorted(copied) == sorted(p.name for p in (store / "ledger").glob("*.csv"))  # text is staged here

    here, away = (json.loads((out / "manifest.json").read_text(encoding="utf-8")) for out in (local, there))
    assert away["run_id"] == here["run_id"]
    assert [(e["role"], e["sha256"], e["bytes"]) for e in away["inputs"]] == \
        [(e["role"], e["sha256"], e["bytes"]) for e in here["inputs"]]
    ours, theirs = data_files(local), data_files(there)
    for name in ours:
        if name not in ("exceptions.parquet", "statements.xlsx"):
            assert ours[name] == theirs[name], name
    held_here, held_there = pq.read_table(local / "exceptions.parquet"), pq.read_table(there / "exceptions.parquet")
    files = held_there.column("source_file").to_pylist()
    renamed = held_there.set_column(held_there.schema.get_field_index("source_file"), "source_file",
                                    pa.array([_named_locally(f, uri, store) for f in files], pa.string()))
    assert renamed.equals(held_here)
    assert {f.split("/")[-2] for f in files} == {"claims", "ledger"} and all(f.startswith(f"{uri}/") for f in files)
    cli(["verify", there])


def test_a_stand_in_is_never_read_as_rows_here(tmp_path, monkeypatch):
    """The footer stand-in of a remote file holds no row: were the month loaded here (not by the executors),
    DuckDB would read zeros. The loader refuses it (exit 70) instead."""
    import duckdb

    from mediclear_cli import sources
    from mediclear_cli.errors import CheckFailed
    from mediclear_cli.inputs import load_side

    from conftest import row, write_rows

    path = write_rows(tmp_path / "c.parquet", [row("A")]).resolve()
    monkeypatch.setitem(sources.IN_PLACE, path, "hdfs://nn/c.parquet")
    with pytest.raises(CheckFailed, match="left in place"):
        load_side(duckdb.connect(), "claims", [str(path)])
