"""Personal-data canaries (issue 7, part 6): fixtures carry canary ID numbers and names, ASCII and full-width;
after successful runs, failure paths and --debug runs, no stream and no output file (Parquet values, XLSX
XML, HTML, JSON) holds any of them unmasked. Masking itself is pinned on 15- and 18-digit IDs, a lower-case
x and full-width input."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from mediclear_cli import engine

from conftest import row, write_rows

ID_18 = "11010519491231002X"
ID_18_LOWER_FULLWIDTH = "１１０１０５１９４９１２３１００２ｘ"
ID_15 = "110105491231002"
NAME = "欧阳金丝雀"
NAME_LATIN_FULLWIDTH = "Ｃａｎａｒｙ Ｌｉ"
CANARIES = [ID_18, ID_18.lower(), ID_18_LOWER_FULLWIDTH, ID_15, NAME, NAME_LATIN_FULLWIDTH, "Canary Li"]


def canary_month(tmp: Path) -> tuple[Path, Path]:
    claims = [
        row("M1", certno=ID_18, psn_name=NAME),
        row("M2", certno=ID_18_LOWER_FULLWIDTH, psn_name=NAME_LATIN_FULLWIDTH, mdtrt_cert_no=ID_18),
        row("C1", certno=ID_15, psn_name=NAME, insured="1"),  # rejected: its data still reaches exceptions
        row("C2", certno=ID_18, psn_name=NAME),  # claim_only
    ]
    ledger = [row("M1", certno=ID_18, psn_name=NAME), row("M2", certno=ID_18, psn_name=NAME),
              row("L1", certno=ID_15, psn_name=NAME_LATIN_FULLWIDTH)]
    return write_rows(tmp / "in" / "claims.parquet", claims), write_rows(tmp / "in" / "ledger.parquet", ledger)


def mediclear(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mediclear_cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def texts_of(folder: Path) -> list[tuple[str, str]]:
    """Every output file as text: Parquet as its values, XLSX as its XML parts, the rest as UTF-8."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            found.append((str(path), repr(pq.read_table(path).to_pylist())))
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                found += [(f"{path}:{n}", book.read(n).decode("utf-8", "replace")) for n in book.namelist()]
        elif path.suffix == ".pdf":
            done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
            found.append((str(path), done.stdout))
        else:
            found.append((str(path), path.read_bytes().decode("utf-8", "replace")))
    return found


def assert_no_canary(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} unmasked in {where}"


def test_no_canary_in_any_stream_or_output(tmp_path):
    claims, ledger = canary_month(tmp_path)
    runs = [
        # (a quarter of the canary claims is rejected on purpose: --max-rejected lets the month through)
        mediclear("clear", "--claims", claims, "--ledger", ledger, "--period", "2026-10", "--out", tmp_path / "c",
                  "--json", "--max-rejected", "100%", cwd=tmp_path),
        mediclear("--debug", "clear", "--claims", claims, "--ledger", ledger, "--period", "2026-10",
                  "--out", tmp_path / "d", "--lang", "en", "--pdf", "auto", "--max-rejected", "100%", cwd=tmp_path),
        mediclear("reconcile", "--claims", claims, "--ledger", ledger, "--period", "2026-10",
                  "--out", tmp_path / "r", "--json", "--max-rejected", "100%", cwd=tmp_path),
        mediclear("validate", claims, "--side", "claims", "--json", cwd=tmp_path),
        mediclear("validate", ledger, "--side", "ledger", cwd=tmp_path),
    ]
    assert [r.returncode for r in runs] == [1, 1, 1, 1, 0]
    # failure paths, with and without --debug: a missing column, an unreadable file, a bad register
    broken = write_rows(tmp_path / "in" / "broken.parquet", [{"setl_id": "X", "certno": ID_18, "psn_name": NAME}])
    garbage = tmp_path / "in" / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + ID_18.encode() + NAME.encode())
    for debug in ([], ["--debug"]):
        for bad in (broken, garbage):
            failed = mediclear(*debug, "clear", "--claims", bad, "--ledger", ledger, "--period", "2026-10",
                               "--out", tmp_path / "f", cwd=tmp_path)
            assert failed.returncode != 0
            runs.append(failed)
    for number, done in enumerate(runs):
        assert_no_canary(f"run {number} stdout", done.stdout)
        assert_no_canary(f"run {number} stderr", done.stderr)
    for folder in ("c", "d", "r"):
        for where, text in texts_of(tmp_path / folder):
            assert_no_canary(where, text)


def masked(value: str | None, macro: str) -> str | None:
    con = duckdb.connect()
    engine.run(con, "macros")
    return con.execute(f"SELECT {macro}($v)", {"v": value}).fetchall()[0][0]


@pytest.mark.parametrize(("value", "expected"), [
    (ID_18, "**************002X"),
    (ID_15, "***********1002"),
    ("123", "***"),
    (None, None),
])
def test_id_numbers_keep_at_most_their_last_four_characters(value, expected):
    assert masked(value, "mask_id") == expected


@pytest.mark.parametrize(("value", "expected"), [(NAME, "欧****"), ("李", "*"), ("Li Ming", "L******"), (None, None)])
def test_names_keep_at_most_their_first_character(value, expected):
    assert masked(value, "mask_name") == expected


def test_full_width_lower_case_id_is_normalised_before_masking(tmp_path):
    claims, ledger = canary_month(tmp_path)
    from mediclear_cli.jobs import JobSpec, run_clear

    run_clear(JobSpec([str(claims)], [str(ledger)], "2026-10", tmp_path / "out", max_rejected="100%"))
    held = pq.read_table(tmp_path / "out" / "exceptions.parquet").to_pylist()
    assert {r["certno"] for r in held if r["setl_id"] == "C2"} == {"**************002X"}
    assert {r["certno"] for r in held if r["setl_id"] in ("C1", "L1")} == {"***********1002"}
