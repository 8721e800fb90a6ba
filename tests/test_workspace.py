"""Month after month (issue 4): the workspace store, carry-forward of held items, period close with two
people, the cron lock, --period previous, mediclear.toml, JSON logs, idempotent re-runs."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mediclear_cli.periods import Period
from mediclear_cli.verify import verify_run

from conftest import as_ledger, cli, last_run, row, write_rows

D = Decimal


def clear(ws: Path, claims: Path, ledger: Path, period: str, code: int = 1, *extra: str):
    return cli(["clear", "--claims", claims, "--ledger", ledger, "--period", period, "--workspace", ws,
                "--no-statements", "--json", *extra], code)


def summary_of(result) -> dict:
    return json.loads(result.stdout)


# -- a hand-checkable carry-forward ----------------------------------------------------------------------------

def test_a_claim_held_in_october_is_matched_late_and_cleared_in_november(tmp_path):
    ws = tmp_path / "ws"
    oct_c = write_rows(tmp_path / "10" / "claims.parquet", [
        row("A1", "100.00", "70.00", "10.00"),                        # matched in October
        row("B1", "300.00", "200.00", "50.00", insured="320000"),     # the ledger books it only in November
    ])
    oct_l = write_rows(tmp_path / "10" / "ledger.parquet", [row("A1", "100.00", "70.00", "10.00")])
    first = summary_of(clear(ws, oct_c, oct_l, "2026-10"))
    assert first["clearing"]["cleared_clr_amt"] == "80.00"
    assert first["carry_forward"]["new_held"] == {"records": 1, "clr_amt": "250.00"}

    held = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)
    assert [(i["side"], i["setl_id"], i["first_period"], i["age_months"]) for i in held["items"]] == [
        ("claims", "B1", "2026-10", 0)]

    nov_c = write_rows(tmp_path / "11" / "claims.parquet", [row("C1", when="2026-11-03 10:00:00")])
    nov_l = write_rows(tmp_path / "11" / "ledger.parquet", [
        row("C1", when="2026-11-03 10:00:00"),
        row("B1", "300.00", "200.00", "50.00", insured="320000"),     # setl_time still in October: late
    ])
    second = summary_of(clear(ws, nov_c, nov_l, "2026-11", 0))
    # C1 (80.00) and the late B1 (250.00) are cleared in November; nothing is held any more.
    assert second["clearing"]["cleared_clr_amt"] == "330.00"
    assert second["carry_forward"]["resolved"] == {"items": 1, "records": 1, "clr_amt": "250.00",
                                                   "cleared_clr_amt": "250.00"}
    assert second["carry_forward"]["held_after"] == {"records": 0, "items": 0, "clr_amt": "0.00"}
    assert json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)["items"] == []
    run_dir = Path(json.loads(cli(["show", "2", "--workspace", ws]).stdout)["out_dir"])
    outcome = pq.read_table(run_dir / "carry_forward.parquet").to_pylist()
    assert [(o["side"], o["setl_id"], o["first_period"], o["outcome"], o["settled_month"]) for o in outcome] == [
        ("claims", "B1", "2026-10", "matched_late", "2026-10")]
    nets = {r["unit"]: r["net"] for r in pq.read_table(run_dir / "net_positions.parquet").to_pylist()}
    assert nets["110000"] == D("330.00") and nets["320000"] == D("-250.00")
    import openpyxl

    book = openpyxl.load_workbook(run_dir / "statements.xlsx", read_only=True)
    sheet = [tuple(r) for r in book["挂账结转"].iter_rows(values_only=True)]
    assert sheet[1][:5] == ("医药机构", "B1", "2026-10", "2026-10", "本期补清算")
    overview = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True) if r and r[0]}
    assert overview["上期结转挂账(笔/金额)"] == "1 / 250.00" and overview["期末挂账合计"] == "0 / 0.00"


def test_a_row_outside_the_month_comes_back_next_month_and_a_fresh_extract_supersedes_a_held_row(tmp_path):
    ws = tmp_path / "ws"
    # October: a September settlement arrives on both sides (out_of_period); D1 differs in amount.
    oct_c = write_rows(tmp_path / "10" / "c.parquet", [row("S1", when="2026-09-29 10:00:00"),
                                                       row("D1", "100.00", "70.00", "10.00")])
    oct_l = write_rows(tmp_path / "10" / "l.parquet", [row("S1", when="2026-09-29 10:00:00"),
                                                       row("D1", "100.00", "60.00", "10.00")])
    first = summary_of(clear(ws, oct_c, oct_l, "2026-10"))
    assert first["carry_forward"]["new_held"]["records"] == 4
    # November: nothing new for S1 (it comes back and matches); the hospital re-extracts D1 with the ledger's amounts.
    nov_c = write_rows(tmp_path / "11" / "c.parquet", [row("D1", "100.00", "60.00", "10.00")])
    nov_l = write_rows(tmp_path / "11" / "l.parquet", [row("Z9", when="2026-11-02 08:00:00")])
    second = summary_of(clear(ws, nov_c, nov_l, "2026-11"))
    carry = second["carry_forward"]
    assert carry["carried_in"]["records"] == 4 and carry["superseded_records"] == 1
    assert carry["resolved"]["items"] == 4  # S1 both sides, D1 both sides
    assert second["clearing"]["cleared_clr_amt"] == "150.00"  # S1 80.00 + D1 70.00 (ledger amounts)
    held = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)["items"]
    assert [(i["side"], i["setl_id"], i["first_period"]) for i in held] == [("ledger", "Z9", "2026-11")]


# -- three generated months through the CLI alone --------------------------------------------------------------

def _clr(table) -> Decimal:
    money = pc.add(table.column("fund_pay_sumamt"), table.column("acct_pay"))
    return D(str(pc.sum(money).as_py() or 0))


def test_three_generated_months_resolve_late_rows_and_conserve_money(tmp_path):
    data, ws = tmp_path / "data", tmp_path / "ws"
    cli(["sample", data, "--rows", "2000", "--months", "3", "--period", "2026-08", "--seed", "5"])
    months = ["2026-08", "2026-09", "2026-10"]  # months that have happened: a future month is refused
    summaries = []
    for m in months:
        summaries.append(summary_of(clear(ws, data / m / "claims", data / m / "ledger", m)))
    # Late files really arrived and were resolved in the month they arrived, with their original month.
    for i, m in enumerate(months[1:], 1):
        run = json.loads(cli(["show", str(i + 1), "--workspace", ws]).stdout)
        outcomes = pq.read_table(Path(run["out_dir"]) / "carry_forward.parquet").to_pylist()
        late = {}
        for side in ("claims", "ledger"):
            for path in (data / m / side).glob("late-from-*.parquet"):
                for setl_id in pq.read_table(path, columns=["setl_id"]).column("setl_id").to_pylist():
                    late[(("ledger" if side == "claims" else "claims"), setl_id)] = months[i - 1]
        assert late, m
        by_key = {(o["side"], o["setl_id"]): o for o in outcomes}
        for key, month in late.items():
            assert by_key[key]["outcome"] == "matched_late", key
            assert by_key[key]["settled_month"] == month and by_key[key]["first_period"] == month
    # Every row held in October is either resolved later or still held at the end — never gone.
    first_dir = Path(json.loads(cli(["show", "1", "--workspace", ws]).stdout)["out_dir"])
    exceptions = pq.read_table(first_dir / "exceptions.parquet").to_pylist()
    held_oct = {(e["side"], e["setl_id"]) for e in exceptions if e["category"] != "rejected"}
    resolved = set()
    for seq in (2, 3):
        run = json.loads(cli(["show", str(seq), "--workspace", ws]).stdout)
        resolved |= {(o["side"], o["setl_id"]) for o in
                     pq.read_table(Path(run["out_dir"]) / "carry_forward.parquet").to_pylist()
                     if o["outcome"] == "matched_late"}
    final = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)
    still = {(i["side"], i["setl_id"]) for i in final["items"]}
    assert held_oct <= resolved | still
    assert not (resolved & still)
    assert {i["first_period"] for i in final["items"]} == set(months)  # ages 2, 1 and 0
    # Money: per side, what the files brought over three months = matched + rejected over the months + held
    # at the end. The left side is summed here from the Parquet files, independently of mediclear.
    for side in ("claims", "ledger"):
        brought = sum((_clr(pq.read_table(p, columns=["fund_pay_sumamt", "acct_pay"]))
                       for m in months for p in sorted((data / m / side).glob("*.parquet"))), D("0.00"))
        cats = [s["sides"][side]["categories"] for s in summaries]
        accounted = sum((D(c["matched"]["clr_amt"]) + D(c["rejected"]["clr_amt"]) for c in cats), D("0.00"))
        accounted += sum((D(str(i["clr_amt"])) for i in final["items"] if i["side"] == side), D("0.00"))
        assert brought == accounted, side
    # Σ net = 0 in every month, and the cleared money of each month is its matched ledger money.
    for s in summaries:
        assert s["checks"]["conservation"] == "passed"
        assert s["clearing"]["cleared_clr_amt"] == s["sides"]["ledger"]["categories"]["matched"]["clr_amt"]


# -- periods: close, refuse, reopen with one vs two people ----------------------------------------------------

def test_close_refuses_a_second_clear_and_reopening_needs_two_people(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1")])
    cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws], 77)  # nothing to close yet
    clear(ws, c, lg, "2026-10")
    cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws])
    refused = clear(ws, c, lg, "2026-10", 77)
    assert "closed" in refused.stderr
    cli(["reopen", "--period", "2026-10", "--reason", "ledger corrected", "--by", "王芳",
         "--approved-by", " 王芳 ", "--workspace", ws], 77)  # the same person twice
    cli(["reopen", "--period", "2026-10", "--reason", "ledger corrected", "--by", "王芳",
         "--approved-by", "李强", "--workspace", ws])
    lg2 = write_rows(tmp_path / "l2.parquet", [row("A1", vali_flag="1"), row("B1", vali_flag="1")])
    clear(ws, c, lg2, "2026-10", 0)
    assert last_run(ws)["supersedes"] == 1
    events = json.loads(cli(["show", "2", "--workspace", ws]).stdout)["period_events"]
    assert [(e["action"], e["by_person"], e["approved_by"]) for e in events] == [
        ("close", "王芳", None), ("reopen", "王芳", "李强")]
    listed = cli(["runs", "--workspace", ws, "--json"])
    assert [(r["seq"], r["status"], r["exit_code"]) for r in json.loads(listed.stdout)] == [
        (1, "done", 1), (2, "done", 0)]  # the store keeps both


def test_write_off_needs_two_people_and_stops_the_item_being_carried(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1")])
    clear(ws, c, lg, "2026-10")
    args = ["writeoff", "--side", "claims", "--setl-id", "B1", "--reason", "hospital withdrew the claim",
            "--workspace", ws]
    cli([*args, "--by", "王芳", "--approved-by", "王芳"], 77)
    cli([*args[:4], "NOPE", *args[4:], "--by", "王芳", "--approved-by", "李强"], 2)  # not held: refused
    cli([*args, "--by", "王芳", "--approved-by", "李强"])
    assert json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)["items"] == []
    nov = write_rows(tmp_path / "n.parquet", [row("N1", when="2026-11-05 10:00:00")])
    second = summary_of(clear(ws, nov, as_ledger(nov), "2026-11", 0))
    assert second["carry_forward"]["carried_in"]["records"] == 0
    store = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    assert store.execute("SELECT setl_id, clr_amt, by_person, approved_by FROM writeoffs").fetchall() == [
        ("B1", D("80.00"), "王芳", "李强")]
    store.close()


def test_months_are_cleared_in_order(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1", when="2026-11-02 10:00:00")])
    clear(ws, c, as_ledger(c), "2026-11", 0)
    old = write_rows(tmp_path / "o.parquet", [row("O1")])
    assert "in order" in clear(ws, old, as_ledger(old), "2026-10", 77).stderr


def test_a_workspace_that_cannot_be_created_exits_73(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the workspace's parent folder should be")
    c = write_rows(tmp_path / "c.parquet", [row("A1")])
    result = clear(blocker / "ws", c, c, "2026-10", 73)
    assert "cannot open the workspace" in result.stderr and "Traceback" not in result.stderr


def test_a_large_excel_book_streams_the_carried_items_too(tmp_path):
    """Above 100,000 exception rows the statement streams from DuckDB in one thread; with carried items it
    reads two result sets (差错, then 挂账结转) from the one connection, which must not be open at once."""
    from openpyxl import load_workbook

    ws = tmp_path / "ws"
    oct_c = write_rows(tmp_path / "10" / "claims.parquet", [row("A1"), row("B1", insured="320000")])
    oct_l = write_rows(tmp_path / "10" / "ledger.parquet", [row("A1")])
    clear(ws, oct_c, oct_l, "2026-10")
    nov_c = write_rows(tmp_path / "11" / "claims.parquet", [row("C1", when="2026-11-03 10:00:00")])
    nov_l = write_rows(tmp_path / "11" / "ledger.parquet", [row("C1", when="2026-11-03 10:00:00", vali_flag="1")])
    out = tmp_path / "nov"
    clear(ws, nov_c, nov_l, "2026-11", 1, "--excel-exceptions", "200000", "--out", out)
    book = load_workbook(out / "statements.xlsx", read_only=True)
    carried = [r for r in book["挂账结转"].iter_rows(values_only=True) if r[1] == "B1"]
    assert len(carried) == 1 and carried[0][2] == "2026-10"


# -- idempotency ------------------------------------------------------------------------------------------

def test_the_same_month_twice_is_recognised_and_reproduces_the_outputs(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1", "50.00", "20.00", "5.00")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1"), row("B1", "50.00", "20.00", "6.00")])
    first = summary_of(clear(ws, c, lg, "2026-10"))
    second = summary_of(clear(ws, c, lg, "2026-10"))
    assert first["run_id"] == second["run_id"]
    record = last_run(ws)
    assert (record["seq"], record["carried_from"], record["repeat_of"], record["reproduced"],
            record["created_workspace"]) == (2, None, 1, True, False)
    dirs = [Path(r["out_dir"]) for r in json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)]
    for name in ("summary.json", "exceptions.parquet", "net_positions.parquet", "carry_forward.parquet"):
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name
    assert verify_run(dirs[1]) == []
    # a repeat into the same --out folder is compared with what the folder held before, not with itself
    fixed = tmp_path / "fixed"
    clear(ws, c, lg, "2026-10", 1, "--out", str(fixed))
    lg_changed = write_rows(tmp_path / "l3.parquet", [row("A1", vali_flag="1"), row("B1", "50.00", "20.00", "5.00", vali_flag="1")])
    clear(ws, c, lg_changed, "2026-10", 0, "--out", str(fixed))
    assert last_run(ws)["supersedes"] == 3
    clear(ws, c, lg_changed, "2026-10", 0, "--out", str(fixed))
    repeat = last_run(ws)
    assert repeat["repeat_of"] == 4 and repeat["reproduced"] is True
    changed = json.loads((fixed / "manifest.json").read_text(encoding="utf-8")) | {"created_at": "edited by hand"}
    (fixed / "manifest.json").write_text(json.dumps(changed), encoding="utf-8")  # no longer what was recorded
    clear(ws, c, lg_changed, "2026-10", 0, "--out", str(fixed))
    repeat = last_run(ws)
    assert repeat["repeat_of"] == 5 and repeat["reproduced"] is None
    clear(ws, c, lg, "2026-10", 1)
    # the repeat starts from the same carried-in state as the first: November sees B1 once, not twice
    nov = write_rows(tmp_path / "n.parquet", [row("N1", when="2026-11-05 10:00:00")])
    third = summary_of(clear(ws, nov, as_ledger(nov), "2026-11"))
    assert third["carry_forward"]["carried_in"]["records"] == 2  # B1 on each side


# -- cron safety --------------------------------------------------------------------------------------------

def _cmd(ws: Path, month: Path, period: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mediclear_cli", *extra, "clear", "--claims", str(month / "claims"),
            "--ledger", str(month / "ledger"), "--period", period, "--workspace", str(ws), "--no-statements"]


def test_a_second_run_on_a_held_workspace_exits_75_at_once(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    c = write_rows(tmp_path / "c.parquet", [row("A1")])
    fd = os.open(ws / "mediclear.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        result = clear(ws, c, as_ledger(c), "2026-10", 75)
        assert time.monotonic() - started < 5 and "another mediclear run" in result.stderr
        cli(["close", "--period", "2026-10", "--by", "a", "--workspace", ws], 75)
    finally:
        os.close(fd)
    clear(ws, c, as_ledger(c), "2026-10", 0)  # released: the next run proceeds


@pytest.mark.slow
def test_a_run_started_while_another_holds_the_workspace_exits_75_and_the_first_finishes(tmp_path):
    """Two real processes, in a fixed order: the second starts only once the first has written its pid into
    the lock file — which it does right after taking the lock — so the outcome never depends on timing."""
    month = tmp_path / "m"
    cli(["sample", month, "--rows", "20000", "--seed", "3"])
    ws = tmp_path / "ws"
    first = subprocess.Popen(_cmd(ws, month, "2026-10"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    lock = ws / "mediclear.lock"
    while time.monotonic() < deadline and first.poll() is None:
        if lock.is_file() and lock.read_text(encoding="utf-8").strip() == str(first.pid):
            break
        time.sleep(0.01)
    second = subprocess.run(_cmd(ws, month, "2026-10"), capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 1, first.stderr.read()
    assert second.returncode == 75, second.stderr
    runs = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)
    assert [(r["status"], r["exit_code"]) for r in runs] == [("done", 1)]


def test_a_killed_run_leaves_the_workspace_consistent(tmp_path):
    month = tmp_path / "m"
    cli(["sample", month, "--rows", "20000", "--seed", "4"])
    ws = tmp_path / "ws"
    complete = subprocess.run(_cmd(ws, month, "2026-10"), capture_output=True)
    assert complete.returncode == 1
    for delay in (0.0, 0.2, 0.5, 1.0):
        # kill once the run is recorded as running (its first log line after taking the lock), plus a delay
        proc = subprocess.Popen([*_cmd(ws, month, "2026-10", "--log-format", "json"), "--tolerance", f"{delay:.2f}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if '"workspace run"' in line:
                break
        time.sleep(delay)
        proc.kill()
        proc.wait()
    final = subprocess.run(_cmd(ws, month, "2026-10"), capture_output=True)
    assert final.returncode == 1, final.stderr
    runs = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)
    assert {r["status"] for r in runs} <= {"done", "interrupted"} and runs[-1]["status"] == "done"
    assert runs[0]["status"] == "done" and (runs[-1]["repeat_of"] or runs[-1]["supersedes"])
    assert any(r["status"] == "interrupted" for r in runs), runs  # the kills did land inside runs
    recorded = set()
    for r in runs:
        if r["status"] == "done":
            assert verify_run(Path(r["out_dir"])) == []
            shown = json.loads(cli(["show", str(r["seq"]), "--workspace", ws]).stdout)
            recorded |= {shown["held_file"], shown["resolved_file"]}
        else:
            assert r["run_id"] is None  # nothing half-recorded
    assert {f"held/{p.name}" for p in (ws / "held").iterdir()} == recorded  # no stray held files


# -- configuration, --period previous, JSON logs ----------------------------------------------------------

def test_period_previous_is_last_month_on_this_machine():
    assert Period.parse("previous", today=date(2026, 1, 3)).label == "2025-12"
    assert Period.parse("previous", today=date(2026, 11, 30)).label == "2026-10"
    assert Period.parse("current", today=date(2026, 11, 30)).label == "2026-11"
    today = date.today()
    assert Period.parse("previous").label == Period(today.year, today.month).shift(-1).label


def test_a_config_file_keeps_the_crontab_line_short(tmp_path):
    data = tmp_path / "data"
    cli(["sample", data, "--rows", "500", "--months", "2", "--period", "2026-10", "--seed", "9"])
    config = tmp_path / "mediclear.toml"
    config.write_text(
        f'workspace = "{tmp_path / "ws"}"\n'
        "[clear]\n"
        f'claims = "{data}/{{period}}/claims"\n'
        f'ledger = ["{data}/{{period}}/ledger"]\n'
        "statements = false\n", encoding="utf-8")
    for period in ("2026-10", "2026-11"):
        cli(["--config", config, "clear", "--period", period], 1)
    runs = json.loads(cli(["--config", config, "runs", "--json"]).stdout)
    assert [r["period"] for r in runs] == ["2026-10", "2026-11"]
    assert not (Path(runs[0]["out_dir"]) / "statements").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("[clear]\nclaimz = 'x'\n", encoding="utf-8")
    assert "claimz" in cli(["--config", bad, "runs"], 78).stderr
    bad.write_text("workspace = [\n", encoding="utf-8")
    cli(["--config", bad, "runs"], 78)


def test_json_log_lines_parse_and_hold_no_personal_data(tmp_path):
    month = tmp_path / "m"
    cli(["sample", month, "--rows", "3000", "--seed", "6"])
    ws = tmp_path / "ws"
    result = subprocess.run(_cmd(ws, month, "2026-10", "--log-format", "json"), capture_output=True, text=True)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(lines) >= 5
    for line in lines:
        assert {"time", "level", "run_id", "stage", "event"} <= set(line)
    last = lines[-1]
    assert last["event"] == "run finished" and last["exit_code"] == 1 and last["duration_s"] > 0
    assert last["run_id"] and last["held_records"] > 0 and last["workspace"]["run"] == 1
    assert any(line["event"] == "stage finished" and "duration_s" in line for line in lines)
    # issue 16: per stage, time and rows — the reading stage counts every row the files hold, the netting
    # stage the settlements it cleared
    finished = {line["stage"]: line for line in lines if line["event"] == "stage finished"}
    file_rows = sum(pq.read_metadata(p).num_rows for side in ("claims", "ledger") for p in (month / side).glob("*.parquet"))
    assert finished["reading claims and ledger"]["rows"] == file_rows
    assert finished["netting"]["rows"] == last["cleared_records"] > 0
    assert all(line["duration_s"] >= 0 for line in finished.values())
    personal = set()
    for path in (month / "claims").glob("*.parquet"):
        table = pq.read_table(path, columns=["certno", "psn_name"])
        personal |= set(table.column("certno").to_pylist()) | set(table.column("psn_name").to_pylist())
    personal.discard(None)
    assert personal and not any(p in result.stderr for p in personal)
    refused = subprocess.run(_cmd(ws, month, "2026-13", "--log-format", "json"), capture_output=True, text=True)
    error = json.loads(refused.stderr.splitlines()[-1])
    assert refused.returncode == 2 and error["level"] == "error" and error["exit_code"] == 2


def test_schema_changes_are_migrated_without_losing_runs(tmp_path, monkeypatch):
    from mediclear_cli import workspace

    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1")])
    clear(ws, c, as_ledger(c), "2026-10", 0)
    monkeypatch.setattr(workspace, "MIGRATIONS", [*workspace.MIGRATIONS,
                                                  ["ALTER TABLE runs ADD COLUMN host VARCHAR"]])
    runs = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)  # read-only: not migrated yet
    assert len(runs) == 1
    clear(ws, c, as_ledger(c), "2026-10", 0)
    store = duckdb.connect(str(ws / "workspace.duckdb"), read_only=True)
    assert store.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
        (str(len(workspace.MIGRATIONS)),)]
    assert store.execute("SELECT count(*), count(host) FROM runs").fetchall() == [(2, 0)]
    store.close()
    monkeypatch.setattr(workspace, "MIGRATIONS", workspace.MIGRATIONS[:1])
    assert "newer" in clear(ws, c, as_ledger(c), "2026-10", 78).stderr  # a newer workspace is refused, never guessed at


def test_an_input_column_named_like_the_carry_marker_is_kept_apart_and_screens_run_beside_carry(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1", held_since="yes"), row("B1", held_since="no")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1")])
    clear(ws, c, lg, "2026-10", 1, "--screen")
    nov = write_rows(tmp_path / "n.parquet", [row("N1", when="2026-11-05 10:00:00", held_since="x")])
    second = summary_of(clear(ws, nov, as_ledger(nov), "2026-11", 1, "--screen"))
    assert second["carry_forward"]["still_held"]["records"] == 1 and "screen" in second
    run = json.loads(cli(["show", "2", "--workspace", ws]).stdout)
    exceptions = pq.read_table(Path(run["out_dir"]) / "exceptions.parquet").to_pylist()
    assert [(e["setl_id"], e["held_since"], e["extra_held_since"]) for e in exceptions] == [("B1", "2026-10", None)]
