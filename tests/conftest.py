"""Shared fixtures: tiny hand-checkable months written as Parquet, a CLI runner that asserts exit codes,
and one generated sample month per test session."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mediclear_cli.cli import app

os.environ.setdefault("TZ", "UTC")
# `--pdf auto` is every command's default; a test that prints says so (--pdf always). The README's main
# command, run by CI as written, prints with the default.
os.environ.setdefault("MEDICLEAR_PDF", "never")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _spark_sized_for_tests() -> Any:
    """The Spark a test starts in this process (spark_engine.session) compiles with the JVM's C1 alone: C2's
    compiler threads took a third of the JVM's CPU here, for jobs of seconds on months of thousands of rows
    (three Spark tests: 105 -> 87 s; 4 shuffle partitions instead of 200 made them slower, 128 s). Settings a
    test gives still win; what is tested is unchanged. Subprocesses start Spark as a user does."""
    try:
        from mediclear_cli import spark_engine
    except ImportError:
        yield
        return
    real = spark_engine.session
    sized = {"spark.driver.extraJavaOptions": f"{spark_engine.LOG4J_OPTION} -XX:TieredStopAtLevel=1"}

    def session(options: Any) -> Any:
        return real(spark_engine.SparkOptions(options.master, sized | options.conf))

    spark_engine.session = session
    yield
    spark_engine.session = real
SAMPLE = REPO / "sample_data"
D = Decimal


def row(setl_id: str | None, medfee: str = "100.00", fund: str = "70.00", acct: str = "10.00",
        insured: str | None = "150000", care: str | None = "110000", when: str = "2026-10-15 09:30:00",
        **extra: Any) -> dict[str, Any]:
    """One settlement row; cash defaults to medfee - fund - acct so the identity holds."""
    record: dict[str, Any] = {
        "setl_id": setl_id,
        "setl_time": when,
        "medfee_sumamt": D(medfee) if medfee is not None else None,
        "fund_pay_sumamt": D(fund) if fund is not None else None,
        "acct_pay": D(acct) if acct is not None else None,
        "insuplc_admdvs": insured,
        "mdtrtarea_admvs": care,
    }
    record.update(extra)
    return record


def write_rows(path: Path, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> Path:
    """Write rows as Parquet; money columns as DECIMAL(18,2) unless a schema says otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if schema is None and not rows:
        schema = EMPTY_SCHEMA
    if schema is None:
        names: dict[str, None] = {}
        for r in rows:
            for k in r:
                names.setdefault(k, None)
        fields = []
        for name in names:
            values = [r.get(name) for r in rows]
            sample = next((v for v in values if v is not None), None)
            typ = pa.decimal128(18, 2) if isinstance(sample, Decimal) else None
            fields.append(pa.field(name, typ if typ is not None else pa.array(values).type))
        schema = pa.schema(fields)
    table = pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
    pq.write_table(table, path)
    return path


EMPTY_SCHEMA = pa.schema(  # the columns of `row`, for a side with no rows at all
    [("setl_id", pa.string()), ("setl_time", pa.string())]
    + [(m, pa.decimal128(18, 2)) for m in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")]
    + [("insuplc_admdvs", pa.string()), ("mdtrtarea_admvs", pa.string())]
)


@pytest.fixture
def month(tmp_path: Path):
    """write(claims_rows, ledger_rows) -> (claims_path, ledger_path) in a fresh folder."""

    def write(claims: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> tuple[Path, Path]:
        return write_rows(tmp_path / "claims.parquet", claims), write_rows(tmp_path / "ledger.parquet", ledger)

    return write


runner = CliRunner()


def data_files(out: Path) -> dict[str, bytes]:
    """Every output of a run folder a user reads as data: all but the manifest (its creation time and the
    run's own memory and scratch figures) and the printable statements (they print the manifest's hash)."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and p.name != "manifest.json" and "statements" not in p.relative_to(out).parts}
    assert any(name.endswith(".parquet") for name in files)
    return files


def cli(args: list[str], code: int | None = 0) -> Any:
    """Invoke the CLI; assert the exit code when given; re-raise a real exception from inside the app."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated month (about 4,000 settlements) with its labels."""
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate

    out = tmp_path_factory.mktemp("generated")
    generate(out, rows=4000, period=Period.parse("2026-10"), seed=7)
    return out


def last_run(workspace: Path) -> dict[str, Any]:
    """The workspace's record of its latest run (`mediclear runs --json`): what --json does not print."""
    import json

    return json.loads(cli(["runs", "--workspace", workspace, "--json"]).stdout)[-1]


def as_ledger(path: Path) -> Path:
    """The same settlements as the agency's ledger would hold them: its own file, with the agency's vali_flag
    column (one extract given as both sides is refused, contract §1)."""
    table = pq.read_table(path)
    table = table.append_column("vali_flag", pa.array(["1"] * table.num_rows, pa.string()))
    out = path.with_name(path.stem + "-ledger.parquet")
    pq.write_table(table, out)
    return out
