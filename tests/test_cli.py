"""The CLI through its runner: exit codes of contract §6, one-line errors, stdout for data only, help."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mediclear_cli.cli import app

from conftest import REPO, SAMPLE, cli, row, write_rows

SAMPLE_ARGS = ["--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10"]


def test_clean_month_exits_0_and_json_goes_to_stdout(tmp_path):
    c = write_rows(tmp_path / "c.parquet", [row("A"), row("B", insured="110000", care="150000")])
    l = write_rows(tmp_path / "l.parquet", [row("A", vali_flag="1"), row("B", insured="110000", care="150000",
                                                                       vali_flag="1")])
    result = cli(["clear", "--claims", c, "--ledger", l, "--period", "2026-10", "--out", tmp_path / "run", "--json"], 0)
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 0 and summary["held_records"] == 0
    assert summary["clearing"]["cleared_clr_amt"] == "160.00"
    assert "net positions" in result.stderr


def test_held_exceptions_exit_1_with_complete_outputs(tmp_path):
    out = tmp_path / "run"
    result = cli(["clear", *SAMPLE_ARGS, "--out", out, "--regions", SAMPLE / "regions.parquet",
                  "--prepaid", SAMPLE / "prepaid.parquet"], 1)
    assert result.stdout == ""
    names = {p.name for p in out.iterdir()}
    assert names == {"summary.json", "exceptions.parquet", "pair_totals.parquet", "pair_type_totals.parquet",
                     "net_positions.parquet", "fund_split.parquet", "transfers.parquet", "statements.xlsx",
                     "held_by_unit.parquet", "manifest.json", "statements"}


def test_reconcile_writes_only_reconciliation_outputs(tmp_path):
    out = tmp_path / "rec"
    cli(["reconcile", *SAMPLE_ARGS, "--out", out], 1)
    assert {p.name for p in out.iterdir()} == {"summary.json", "exceptions.parquet", "manifest.json"}


def _one_line_error(result, *needles: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_input_exits_66_naming_it(tmp_path):
    result = cli(["clear", "--claims", tmp_path / "none.parquet", "--ledger", tmp_path / "none.parquet",
                  "--period", "2026-10", "--out", tmp_path / "run"], 66)
    _one_line_error(result, "none.parquet")
    assert not (tmp_path / "run").exists()


def test_missing_required_column_exits_65_naming_file_and_column(tmp_path):
    c = write_rows(tmp_path / "c.parquet", [row("A")])
    l = write_rows(tmp_path / "l.parquet", [{k: v for k, v in row("A").items() if k != "mdtrtarea_admvs"}])
    result = cli(["clear", "--claims", c, "--ledger", l, "--period", "2026-10", "--out", tmp_path / "run"], 65)
    _one_line_error(result, "l.parquet", "mdtrtarea_admvs")
    assert not (tmp_path / "run").exists()


def test_corrupt_file_exits_65(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\x00" * 64)
    good = write_rows(tmp_path / "l.parquet", [row("A")])
    result = cli(["reconcile", "--claims", bad, "--ledger", good, "--period", "2026-10", "--out", tmp_path / "r"], 65)
    _one_line_error(result, "bad.parquet")


def test_usage_errors_exit_2(tmp_path):
    cli(["clear", *SAMPLE_ARGS, "--out", tmp_path / "r", "--level", "city"], 2)
    cli(["clear", *SAMPLE_ARGS[:4], "--period", "2026-13", "--out", tmp_path / "r"], 2)
    cli(["clear", *SAMPLE_ARGS, "--out", tmp_path / "r", "--tolerance", "-1"], 2)
    cli(["clear", "--period", "2026-10"], 2)
    cli(["no-such-command"], 2)


def test_out_that_is_not_a_run_is_refused_with_73(tmp_path):
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    result = cli(["reconcile", *SAMPLE_ARGS, "--out", keep], 73)
    _one_line_error(result, "precious")
    assert (keep / "notes.txt").read_text() == "mine"


def test_validate_lists_rejects_on_stdout_and_exits_1(tmp_path):
    path = write_rows(tmp_path / "v.parquet", [row("A"), row("B", insured="15")])
    result = cli(["validate", path, "--side", "ledger"], 1)
    assert result.stdout.strip().split("\t")[1:] == ["2", "insuplc_admdvs", "bad_region_code"]
    clean = write_rows(tmp_path / "ok.parquet", [row("A")])
    assert cli(["validate", clean, "--side", "ledger", "--json"], 0).stdout.count('"rejected": 0') == 1


def test_verify_passes_on_a_fresh_run_and_fails_65_on_a_flipped_byte(tmp_path):
    out = tmp_path / "run"
    cli(["clear", *SAMPLE_ARGS, "--out", out], 1)
    cli(["verify", out], 0)
    target = out / "net_positions.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = cli(["verify", out], 65)
    assert "net_positions.parquet" in result.stderr


def test_verify_of_a_folder_without_manifest_exits_66(tmp_path):
    cli(["verify", tmp_path], 66)


def test_every_command_has_help_and_appears_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    names = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    assert set(names) >= {"clear", "reconcile", "validate", "sample", "verify"}
    for name in names:
        result = cli([name, "--help"], 0)
        assert "Usage" in result.stdout
        assert re.search(rf"mediclear {name}\b", readme), f"README does not show 'mediclear {name}'"


def test_sample_is_deterministic_for_a_seed(tmp_path):
    cli(["sample", tmp_path / "a", "--rows", "300", "--seed", "5"], 0)
    cli(["sample", tmp_path / "b", "--rows", "300", "--seed", "5"], 0)
    for rel in ("claims/part-0001.parquet", "ledger/part-0001.parquet", "labels.parquet"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_personal_data_never_appears_unmasked_in_outputs_or_streams(tmp_path):
    canary_id, canary_name = "11010119900307123X", "测试金丝雀"
    rows = [row("A", certno=canary_id, psn_name=canary_name, mdtrt_cert_no=canary_id)]
    c = write_rows(tmp_path / "c.parquet", rows)
    l = write_rows(tmp_path / "l.parquet", [row("B", certno=canary_id, psn_name=canary_name)])
    out = tmp_path / "run"
    result = cli(["clear", "--claims", c, "--ledger", l, "--period", "2026-10", "--out", out, "--json"], 1)
    import pyarrow.parquet as pq

    exc = pq.read_table(out / "exceptions.parquet").to_pylist()
    assert {r["certno"] for r in exc} == {"**************123X"}
    assert {r["psn_name"] for r in exc} == {"测****"}
    assert {r["mdtrt_cert_no"] for r in exc} == {"**************123X", None}
    for text in (result.stdout, result.stderr):
        assert canary_id not in text and canary_name not in text
    import zipfile

    blobs = [p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".xlsx"]
    with zipfile.ZipFile(out / "statements.xlsx") as book:
        blobs += [book.read(n) for n in book.namelist()]
    for blob in blobs:
        assert canary_id.encode() not in blob and canary_name.encode("utf-8") not in blob


def test_shipped_sample_data_is_what_the_generator_makes(tmp_path):
    """sample_data/ is `mediclear sample sample_data --rows 3000 --seed 20261`, as the README says."""
    cli(["sample", tmp_path / "sd", "--rows", "3000", "--seed", "20261", "--period", "2026-10"], 0)
    for rel in ("claims/part-0001.parquet", "ledger/part-0001.parquet", "regions.parquet", "prepaid.parquet",
                "labels.parquet"):
        assert (tmp_path / "sd" / rel).read_bytes() == (SAMPLE / rel).read_bytes(), rel


def test_json_prints_exactly_what_summary_json_holds(tmp_path):
    """--json is summary.json, byte for byte: the figures only people read (the workspace record, resources,
    the output folder) are on stderr, in the JSON log and in the store, never mixed into the data."""
    ws = tmp_path / "ws"
    result = cli(["clear", *SAMPLE_ARGS, "--workspace", ws, "--no-statements", "--json"], 1)
    run_dir = Path(json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)[-1]["out_dir"])
    assert result.stdout == (run_dir / "summary.json").read_text(encoding="utf-8")
    out = tmp_path / "rec"
    result = cli(["reconcile", *SAMPLE_ARGS, "--out", out, "--json"], 1)
    assert result.stdout == (out / "summary.json").read_text(encoding="utf-8")
