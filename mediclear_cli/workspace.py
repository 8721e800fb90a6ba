"""The workspace: months one after another (issue 4).

A workspace is a folder holding

    workspace.duckdb   every run (id, period, inputs with SHA-256, options, summary, exit code, output folder,
                       manifest hash), period closes and reopens, write-offs — the store of record
    mediclear.lock     the cron lock: an exclusive flock, released by the kernel when the holder dies, so a
                       crashed run never leaves a stale lock
    held/              per run, the rows still held after it (挂账, with full columns so a late partner can be
                       matched) and the carried items it resolved — Parquet, written before the run is recorded
    runs/              run folders, when `--out` is not given

A run is recorded as `running` before it starts and finished in one transaction after its outputs are
published; a run killed in between is marked `interrupted` by the next one (which holds the lock, so the
killed run is certainly gone). Held files a killed run wrote but never recorded are removed then.

Schema changes go through `MIGRATIONS`, applied in order and never by dropping data.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli.errors import (
    ConfigError,
    InputDataError,
    NotPermitted,
    OutputError,
    UsageError,
    WorkspaceBusy,
    engine_reason,
)
from mediclear_cli.periods import Period
from mediclear_cli.writeoffs import WRITTEN_OFF_ROWS, written_off

MIGRATIONS: list[list[str]] = [
    [  # 1: the first schema
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        """CREATE TABLE runs (
            seq INTEGER PRIMARY KEY, run_id VARCHAR, period VARCHAR, command VARCHAR, status VARCHAR,
            exit_code INTEGER, started_at TIMESTAMP, finished_at TIMESTAMP, tool_version VARCHAR,
            inputs JSON, options JSON, summary JSON, out_dir VARCHAR, manifest_sha256 VARCHAR,
            carried_from INTEGER, repeat_of INTEGER, supersedes INTEGER, held_file VARCHAR,
            resolved_file VARCHAR, message VARCHAR)""",
        """CREATE TABLE period_events (
            seq INTEGER PRIMARY KEY, period VARCHAR, action VARCHAR, by_person VARCHAR,
            approved_by VARCHAR, reason VARCHAR, at_time TIMESTAMP, run_seq INTEGER)""",
        """CREATE TABLE writeoffs (
            seq INTEGER PRIMARY KEY, side VARCHAR, setl_id VARCHAR, first_period VARCHAR, records INTEGER,
            clr_amt DECIMAL(18,2), reason VARCHAR, by_person VARCHAR, approved_by VARCHAR, at_time TIMESTAMP,
            state_run INTEGER)""",
    ],
    [  # 2: a write-off names the held rows it applies to, so a row resent later is a new item (issue 14)
        """CREATE TABLE writeoff_rows (
            writeoff_seq INTEGER, side VARCHAR, setl_id VARCHAR, first_period VARCHAR, source_file VARCHAR,
            source_row BIGINT)""",
    ],
    [  # 3: what --json used to print beside the summary is recorded with the run (issue 15)
        "ALTER TABLE runs ADD COLUMN reproduced BOOLEAN",
        "ALTER TABLE runs ADD COLUMN created_workspace BOOLEAN",
    ],
]

def _now() -> datetime:
    """UTC, stored without a zone (DuckDB TIMESTAMP); shown with a Z."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def person_key(name: str) -> str:
    """A name as the two-person rule compares it: NFKC (full-width letters fold), without any whitespace or
    invisible character (zero-width, bidi marks, soft hyphen), case-folded — so '王 芳', '王\u200b芳' and
    'ＷＡＮＧ' cannot pass as a second person. The names are recorded as given."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", name)
    kept = "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs"))
    return kept.casefold()


def same_person(a: str, b: str) -> bool:
    return person_key(a) == person_key(b)


def require_two_people(by: str, approved_by: str, action: str) -> None:
    """双审制: an action that needs a named person and a different, named approver (exit 77 otherwise)."""
    if not person_key(by) or not person_key(approved_by) or same_person(by, approved_by):
        raise NotPermitted(f"{action} needs two different people: --by and --approved-by (双审制)")


@dataclass
class CarryIn:
    """What a run of `period` starts from: the held rows of the effective run of the latest earlier period,
    less what has been written off since."""

    state_run: int | None
    held_file: Path | None
    writeoff_keys: list[tuple[str, str, str | None, str | None, int | None]]  # rows: WRITTEN_OFF_ROWS
    state_run_id: str | None = None
    state_period: str | None = None


@dataclass
class WorkspaceRun:
    """A run in progress: its number, what it carries in, and the run that stands for its month so far."""

    workspace: Workspace
    seq: int
    carry: CarryIn
    previous: dict[str, Any] | None
    previous_manifest: dict[str, Any] | None = None  # read before this run can overwrite the folder
    created: bool = False  # the workspace did not exist before this run: nothing could be carried in


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / "workspace.duckdb"
        self.lock_path = self.root / "mediclear.lock"
        self.held_dir = self.root / "held"
        self.runs_dir = self.root / "runs"

    # -- the lock ------------------------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[Workspace]:
        """Hold the workspace for a run or a change; another holder means exit 75 at once (never wait)."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OutputError(f"{self.root}: cannot open the workspace ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise WorkspaceBusy(f"{self.root}: another mediclear run holds the workspace; try again later") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield self
        finally:
            os.close(fd)  # closing releases the flock

    # -- the store -----------------------------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.db_path.exists():
            raise UsageError(f"{self.root}: no workspace here yet (it is created by the first clear)")
        with _private_files():
            con = self._open(read_only)
            try:
                if not read_only:
                    try:
                        self._migrate(con)
                    except (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException) as exc:
                        raise self._store_error(exc) from None  # a truncated store reads fine until it is used
                    self._make_private()
                yield con
            finally:
                con.close()

    def _make_private(self) -> None:
        """The store holds staff names, write-offs and amounts: owner-only, whatever the umask was when an
        older mediclear (or another tool) created it (SECURITY.md: nothing group- or world-readable)."""
        for path in (self.root, self.held_dir, self.runs_dir):
            if path.is_dir():
                os.chmod(path, 0o700)
        for path in self.root.glob("workspace.duckdb*"):
            os.chmod(path, 0o600)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        import time

        for attempt in range(50):  # a writer holds DuckDB's file lock only for moments
            try:
                return duckdb.connect(str(self.db_path), read_only=read_only)
            except duckdb.IOException as exc:
                text = str(exc).lower()
                if "lock" in text and attempt < 49:
                    time.sleep(0.1)
                    continue
                if "lock" in text:
                    raise WorkspaceBusy(f"{self.db_path}: busy ({engine_reason(exc)})") from None
                raise self._store_error(exc) from None
            except duckdb.Error as exc:
                raise self._store_error(exc) from None
        raise AssertionError("unreachable")

    def _store_error(self, exc: BaseException) -> Exception:
        """The store cannot be used: permissions (73) or a damaged file (65) — never 'busy, retry' (75),
        which would have cron retry a workspace that needs a person."""
        text = str(exc).lower()
        if "permission denied" in text or "read-only" in text or "read only" in text:
            return OutputError(f"{self.db_path}: the workspace store cannot be written ({engine_reason(exc)}); "
                               "check its owner and permissions")
        return InputDataError(f"{self.db_path}: the workspace store is damaged ({engine_reason(exc)}); restore it "
                              "from a backup (its runs' folders and held/ are intact)")

    @staticmethod
    def _migrate(con: duckdb.DuckDBPyConnection) -> None:
        has_meta = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta' AND database_name = current_database()"
        ).fetchall()[0][0]
        version = 0
        if has_meta:
            rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
            version = int(rows[0][0]) if rows else 0
        if version > len(MIGRATIONS):
            raise ConfigError(f"workspace schema {version} is newer than this mediclear knows ({len(MIGRATIONS)}); "
                              "upgrade mediclear")
        for number in range(version, len(MIGRATIONS)):
            con.execute("BEGIN TRANSACTION")
            for statement in MIGRATIONS[number]:
                con.execute(statement)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', $v)", {"v": str(number + 1)})
            con.execute("COMMIT")

    # -- periods -------------------------------------------------------------------------------------------
    @staticmethod
    def is_closed(con: duckdb.DuckDBPyConnection, period: str) -> bool:
        rows = con.execute("SELECT action FROM period_events WHERE period = $p ORDER BY seq DESC LIMIT 1",
                           {"p": period}).fetchall()
        return bool(rows) and rows[0][0] == "close"

    @staticmethod
    def effective_run(con: duckdb.DuckDBPyConnection, period: str) -> dict[str, Any] | None:
        """The run that stands for a period: its latest completed clear."""
        return _one(con, "SELECT * FROM runs WHERE period = $p AND command = 'clear' AND status = 'done' "
                         "ORDER BY seq DESC LIMIT 1", {"p": period})

    def _standing_runs(self, con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
        """period -> the run that stands for it (its latest completed clear), in period order."""
        periods = [r[0] for r in con.execute(
            "SELECT DISTINCT period FROM runs WHERE command = 'clear' AND status = 'done' ORDER BY period").fetchall()]
        return {p: run for p in periods if (run := self.effective_run(con, p)) is not None}

    def needs_rerun(self, con: duckdb.DuckDBPyConnection,
                    standing: dict[str, dict[str, Any]] | None = None) -> dict[int, str]:
        """The standing runs that no longer follow from the months before them, seq -> why.

        A month's run carries in what the run standing for the month before held. It needs a re-run when an
        earlier month was reopened after it started (its carried-in state may change), or when the run it
        carried from no longer stands for that month with the same content (the earlier month was cleared
        again, with a different run id). Re-running the months in order clears the marks one by one."""
        standing = self._standing_runs(con) if standing is None else standing
        reopens = con.execute("SELECT period, max(at_time) FROM period_events WHERE action = 'reopen' "
                              "GROUP BY period").fetchall()
        stale: dict[int, str] = {}
        previous: dict[str, Any] | None = None
        for period, run in standing.items():
            reopened = sorted(p for p, at in reopens if p < period and at > run["started_at"])
            if reopened:
                stale[run["seq"]] = f"{reopened[0]} was reopened after this run"
            elif previous is None and run["carried_from"] is not None:
                stale[run["seq"]] = "the run it carried from was voided"
            elif previous is not None:
                carried = _one(con, "SELECT run_id FROM runs WHERE seq = $s", {"s": run["carried_from"]}) \
                    if run["carried_from"] is not None else None
                if carried is None or carried["run_id"] != previous["run_id"]:
                    stale[run["seq"]] = f"{previous['period']} was cleared again after this run"
                elif previous["seq"] in stale:
                    stale[run["seq"]] = f"{previous['period']} needs a re-run first"
            previous = run
        return stale

    def close_period(self, period: str, by: str) -> dict[str, Any]:
        if not by.strip():
            raise UsageError("--by: who closes the period")
        with self.locked(), self.connect() as con:
            run = self.effective_run(con, period)
            if run is None:
                raise NotPermitted(f"{period} has no completed clear run in {self.root}; run it before closing")
            if self.is_closed(con, period):
                raise NotPermitted(f"{period} is already closed")
            why = self.needs_rerun(con).get(run["seq"])
            if why:
                raise NotPermitted(f"{period} needs a re-run before it can be closed: {why}; clear it again "
                                   "(and every month between) in order")
            event = self._event(con, period, "close", by, None, None, run["seq"])
            _mark_closed(run.get("out_dir"), event)
            return event

    def reopen_period(self, period: str, reason: str, by: str, approved_by: str) -> dict[str, Any]:
        if not reason.strip():
            raise UsageError("--reason: why the period is reopened")
        require_two_people(by, approved_by, "reopening")
        with self.locked(), self.connect() as con:
            if not self.is_closed(con, period):
                raise UsageError(f"{period} is not closed")
            run = self.effective_run(con, period)
            event = self._event(con, period, "reopen", by, approved_by, reason, run["seq"] if run else None)
            _mark_closed(run.get("out_dir") if run else None, None)
            return event

    def void_run(self, ref: str, reason: str, by: str, approved_by: str) -> dict[str, Any]:
        """Void a completed run made by mistake (a wrong period, the wrong files), two people: it no longer
        stands for its month nor carries anything forward; the store keeps it, marked `void`, and the event.
        A closed month's run is reopened first."""
        if not reason.strip():
            raise UsageError("--reason: why the run is voided")
        require_two_people(by, approved_by, "voiding a run")
        with self.locked(), self.connect() as con:
            run = _one(con, "SELECT * FROM runs WHERE seq = $s", {"s": int(ref)}) if ref.isdigit() else None
            if run is None:
                raise UsageError(f"no run {ref!r} in {self.root} (give its number from `mediclear runs`)")
            if run["status"] != "done" or run["command"] != "clear":
                raise UsageError(f"run {ref} is {run['status']}; only a completed clear can be voided")
            if self.is_closed(con, run["period"]):
                raise NotPermitted(f"{run['period']} is closed; reopen it (two people) before voiding its run")
            con.execute("BEGIN TRANSACTION")
            con.execute("UPDATE runs SET status = 'void', message = $m WHERE seq = $s",
                        {"m": f"voided: {reason.strip()}", "s": run["seq"]})
            event = self._event(con, run["period"], "void", by, approved_by, reason.strip(), run["seq"])
            con.execute("COMMIT")
        return event

    @staticmethod
    def _event(con: duckdb.DuckDBPyConnection, period: str, action: str, by: str, approved: str | None,
               reason: str | None, run_seq: int | None) -> dict[str, Any]:
        seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM period_events").fetchall()[0][0]
        con.execute("INSERT INTO period_events VALUES ($s, $p, $a, $b, $ap, $r, $t, $run)",
                    {"s": seq, "p": period, "a": action, "b": by.strip(), "ap": approved.strip() if approved else None,
                     "r": reason, "t": _now(), "run": run_seq})
        return {"event_seq": seq, "period": period, "action": action, "by": by.strip(), "approved_by": approved,
                "reason": reason, "run": run_seq}

    # -- runs ----------------------------------------------------------------------------------------------
    def begin_run(self, con: duckdb.DuckDBPyConnection, period: Period, command: str) -> WorkspaceRun:
        """Under the lock: tidy after killed runs, refuse closed or out-of-order periods, and record the run
        as `running`. Returns its sequence number and what it carries in."""
        self._tidy(con)
        label = period.label
        if self.is_closed(con, label):
            raise NotPermitted(f"{label} is closed in {self.root}; reopen it (two people) before clearing it again")
        standing = self._standing_runs(con)
        stale = self.needs_rerun(con, standing)
        later = [p for p, run in standing.items() if p > label and run["seq"] not in stale]
        if later:
            raise NotPermitted(f"{later[0]} was already cleared on top of {label} in {self.root}; months are cleared "
                               f"in order: reopen {label} (two people) to clear it again, then re-run every later "
                               "month in order (see docs/decisions.md)")
        earlier = [p for p, run in standing.items() if p < label and run["seq"] in stale]
        if earlier:
            raise NotPermitted(f"{earlier[0]} needs a re-run first ({stale[standing[earlier[0]]['seq']]}); "
                               "months are re-run in order, each carrying from the one before")
        carry = self.carry_in(con, period)
        seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM runs").fetchall()[0][0]
        from mediclear_cli import __version__

        con.execute("INSERT INTO runs (seq, period, command, status, started_at, tool_version, carried_from) "
                    "VALUES ($s, $p, $c, 'running', $t, $v, $cf)",
                    {"s": seq, "p": label, "c": command, "t": _now(), "v": __version__, "cf": carry.state_run})
        previous = self.effective_run(con, label)
        return WorkspaceRun(self, int(seq), carry, previous, _recorded_manifest(previous))

    def carry_in(self, con: duckdb.DuckDBPyConnection, period: Period) -> CarryIn:
        state = _one(con, "SELECT * FROM runs WHERE command = 'clear' AND status = 'done' AND period < $p "
                          "ORDER BY period DESC, seq DESC LIMIT 1", {"p": period.label})
        if state is None or not state["held_file"]:
            return CarryIn(None, None, [])
        keys = [tuple(r) for r in con.execute(f"SELECT * FROM ({WRITTEN_OFF_ROWS}) ORDER BY ALL").fetchall()]  # noqa: S608 - fixed SQL
        return CarryIn(int(state["seq"]), self.root / state["held_file"], keys, state["run_id"], state["period"])

    def finish_run(self, con: duckdb.DuckDBPyConnection, seq: int, fields: dict[str, Any]) -> None:
        """Record the end of a run in one statement (one transaction)."""
        fields = dict(fields) | {"finished_at": _now()}
        for key in ("inputs", "options", "summary"):
            if key in fields and fields[key] is not None and not isinstance(fields[key], str):
                from mediclear_cli.writers import to_json

                fields[key] = to_json(fields[key])
        names = sorted(fields)
        sets = ", ".join(f"{n} = ${n}" for n in names)
        con.execute(f"UPDATE runs SET {sets} WHERE seq = $seq", fields | {"seq": seq})  # noqa: S608 - fixed names

    def _tidy(self, con: duckdb.DuckDBPyConnection) -> None:
        """Runs left `running` died (we hold the lock): mark them; remove held files no run records."""
        con.execute("UPDATE runs SET status = 'interrupted', message = 'the process ended before the run was "
                    "recorded (killed or crashed); nothing of it was recorded' WHERE status = 'running'")
        known = {r[0] for r in con.execute("SELECT held_file FROM runs WHERE held_file IS NOT NULL UNION "
                                           "SELECT resolved_file FROM runs WHERE resolved_file IS NOT NULL").fetchall()}
        if self.held_dir.is_dir():
            for path in self.held_dir.iterdir():
                if f"held/{path.name}" not in known:
                    path.unlink(missing_ok=True)

    # -- reading -------------------------------------------------------------------------------------------
    def runs(self, period: str | None = None) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cursor = con.execute(
                "SELECT seq, run_id, period, command, status, exit_code, started_at, finished_at, out_dir, "
                "repeat_of, supersedes, carried_from, reproduced, created_workspace FROM runs "
                "WHERE $p IS NULL OR period = $p ORDER BY seq",
                {"p": period})
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            closed = {p for (p,) in con.execute("SELECT DISTINCT period FROM period_events").fetchall()
                      if self.is_closed(con, p)}
            stale = self.needs_rerun(con)
        for row in rows:
            row["period_closed"] = row["period"] in closed
            row["needs_rerun"] = stale.get(row["seq"])
        return rows

    def show(self, ref: str) -> dict[str, Any]:
        with self.connect(read_only=True) as con:
            if ref.isdigit() and len(ref) < 8:
                row = _one(con, "SELECT * FROM runs WHERE seq = $s", {"s": int(ref)})
            else:
                found = con.execute("SELECT seq FROM runs WHERE run_id LIKE $r || '%' ORDER BY seq DESC",
                                    {"r": ref}).fetchall()
                row = _one(con, "SELECT * FROM runs WHERE seq = $s", {"s": found[0][0]}) if found else None
            if row is None:
                raise UsageError(f"no run {ref!r} in {self.root}")
            for key in ("inputs", "options", "summary"):
                if row.get(key):
                    row[key] = json.loads(row[key])
            row["period_events"] = _all(con, "SELECT * FROM period_events WHERE period = $p ORDER BY seq",
                                        {"p": row["period"]})
        return row

    def held(self, period: str | None = None, older_than: int | None = None) -> dict[str, Any]:
        """The items held after the run standing for `period` (default: the latest cleared period), with ages."""
        with self.connect(read_only=True) as con:
            if period is None:
                rows = con.execute("SELECT max(period) FROM runs WHERE command = 'clear' AND status = 'done'").fetchall()
                period = rows[0][0]
                if period is None:
                    return {"period": None, "state_run": None, "items": []}
            run = self.effective_run(con, period)
            if run is None:
                raise UsageError(f"{period} has no completed clear run in {self.root}")
            needs_rerun = self.needs_rerun(con).get(run["seq"])
            level = json.loads(run["options"] or "{}").get("level", "province")
            if not run["held_file"]:
                return {"period": period, "state_run": run["seq"], "needs_rerun": needs_rerun, "level": level,
                        "items": []}
            items = _all(con, f"""
                SELECT h.side, h.setl_id, h.first_period, any_value(h.category) AS category,
                       count(*) AS records, sum(h.clr_amt) AS clr_amt,
                       min(strftime(h.setl_time, '%Y-%m')) AS settled_month,
                       max(h.insuplc_admdvs) AS insuplc_admdvs, max(h.mdtrtarea_admvs) AS mdtrtarea_admvs,
                       max(h.fixmedins_code) AS fixmedins_code
                FROM read_parquet({_lit(self.root / run['held_file'])}) h
                WHERE NOT {written_off("h", f"({WRITTEN_OFF_ROWS})")}
                GROUP BY ALL ORDER BY h.first_period, h.side, h.setl_id""")  # noqa: S608 - path quoted
        here = Period.parse(period)
        for item in items:
            item["age_months"] = here.months_after(Period.parse(item["first_period"]))
        if older_than is not None:
            items = [i for i in items if i["age_months"] > older_than]
        return {"period": period, "state_run": run["seq"], "needs_rerun": needs_rerun, "level": level, "items": items}

    def write_off(self, side: str, setl_ids: list[str], reason: str, by: str, approved_by: str) -> dict[str, Any]:
        """Write held items off (two people): they are no longer carried, and the record says who and why."""
        if side not in ("claims", "ledger"):
            raise UsageError("--side: claims or ledger")
        if not reason.strip():
            raise UsageError("--reason: why the items are written off")
        require_two_people(by, approved_by, "a write-off")
        setl_ids = list(dict.fromkeys(s.strip() for s in setl_ids if s.strip()))  # the same id twice is one item
        with self.locked():
            state = self.held()
            held: dict[str, list[dict[str, Any]]] = {}
            for item in state["items"]:
                if item["side"] == side:
                    held.setdefault(item["setl_id"], []).append(item)
            missing = [s for s in setl_ids if s not in held]
            if missing:
                raise UsageError(f"not held now on the {side} side: {', '.join(missing[:5])}")
            with self.connect() as con:
                run = _one(con, "SELECT held_file FROM runs WHERE seq = $s", {"s": state["state_run"]})
                held_file = _lit(self.root / run["held_file"])  # type: ignore[index]
                con.execute("BEGIN TRANSACTION")
                seq = con.execute("SELECT coalesce(max(seq), 0) FROM writeoffs").fetchall()[0][0]
                for n, setl_id in enumerate(setl_ids, 1):
                    items = held[setl_id]
                    # the very rows held now (recorded before the write-off itself, which would otherwise count as
                    # one from before schema 2 and hide them all): a row of this setl_id sent again later is a new item
                    con.execute(
                        f"INSERT INTO writeoff_rows SELECT $s, h.side, h.setl_id, h.first_period, h.source_file, "  # noqa: S608 - path quoted
                        f"h.source_row FROM read_parquet({held_file}) h WHERE h.side = $side AND h.setl_id = $id "
                        f"AND NOT {written_off('h', f'({WRITTEN_OFF_ROWS})')}",
                        {"s": seq + n, "side": side, "id": setl_id})
                    con.execute("INSERT INTO writeoffs VALUES ($s, $side, $id, $fp, $r, $amt, $why, $by, $ap, $t, $run)",
                                {"s": seq + n, "side": side, "id": setl_id,
                                 "fp": min(i["first_period"] for i in items),
                                 "r": sum(i["records"] for i in items),
                                 "amt": sum((i["clr_amt"] or 0 for i in items), 0), "why": reason.strip(),
                                 "by": by.strip(), "ap": approved_by.strip(), "t": _now(),
                                 "run": state["state_run"]})
                con.execute("COMMIT")
        return {"written_off": len(setl_ids), "side": side, "by": by.strip(), "approved_by": approved_by.strip()}


def _mark_closed(out_dir: str | None, event: dict[str, Any] | None) -> None:
    """A closed month's run folder says so itself (CLOSED, beside its manifest), so that no `--out` — with
    this workspace or without any — ever replaces the statements people signed; reopening takes it away."""
    from mediclear_cli.runfolder import CLOSED_MARKER
    from mediclear_cli.writers import to_json

    if not out_dir or not Path(out_dir).is_dir():
        return
    marker = Path(out_dir) / CLOSED_MARKER
    if event is None:
        marker.unlink(missing_ok=True)
        return
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(to_json({"closed": event["period"], "by": event["by"], "event": event["event_seq"]}))


@contextmanager
def _private_files() -> Iterator[None]:
    """Files DuckDB creates meanwhile (the store, its write-ahead log) are owner-only: umask 077 while the store
    is open. The umask is the process's; mediclear opens the store from one thread at a time."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _recorded_manifest(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The manifest of a recorded run, if its folder still holds the very manifest that was recorded."""
    if run is None or not run.get("out_dir"):
        return None
    from mediclear_cli.writers import sha256_file

    path = Path(run["out_dir"]) / "manifest.json"
    try:
        if sha256_file(path) != run["manifest_sha256"]:
            return None
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest
    except (OSError, ValueError):
        return None


def _lit(path: Path) -> str:
    from mediclear_cli.engine import quote_literal

    return quote_literal(str(path))


def _all(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or None)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    rows = _all(con, sql, params)
    return rows[0] if rows else None
