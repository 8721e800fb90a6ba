"""`mediclear verify`: is this run folder exactly what its run wrote, and does it add up?

What is checked, in order:
1. the manifest itself: readable JSON of the expected shape (a malformed manifest is a finding, exit 65);
2. every output it lists: size, SHA-256, Parquet row counts; no file or folder it does not list;
3. the figures the outputs can re-derive on their own — the held control totals (records, money, setl_id hash
   total) from exceptions.parquet, the matched ledger totals and every unit's net from pair_totals.parquet,
   Σ net = 0 and transfers that settle the nets — so rewriting one output and re-hashing is not enough;
4. the printed statements: their manifest names this run's manifest, and every page prints its hash;
5. with `--key`, the HMAC-SHA256 signature in manifest.sig (written by `clear --sign`): without the key
   nobody can re-hash a changed run so that it verifies;
6. the inputs, where they can still be reached.

Hashes show a file was not changed by accident; only the signature shows it was not changed on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from mediclear_cli import schema
from mediclear_cli.errors import InputNotFound, UsageError
from mediclear_cli.remote import is_remote
from mediclear_cli.runfolder import CLOSED_MARKER
from mediclear_cli.writers import sha256_file, write_json

SIGNATURE = "manifest.sig"
MIN_KEY_BYTES = 32
ZERO = Decimal("0.00")


def read_key(path: Path) -> bytes:
    """A signing key: a file of at least 32 bytes (e.g. `head -c 32 /dev/urandom > mediclear.key`)."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise InputNotFound(f"{path}: key file not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: key file cannot be read ({exc.strerror})") from None
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"{path}: a signing key needs at least {MIN_KEY_BYTES} bytes "
                         "(e.g. head -c 32 /dev/urandom > mediclear.key)")
    return key


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"mediclear key id\0" + key).hexdigest()[:16]


def sign_run(folder: Path, key: bytes) -> None:
    """Write manifest.sig beside manifest.json: HMAC-SHA256 of the manifest's bytes under `key`."""
    digest = hmac.new(key, (folder / "manifest.json").read_bytes(), hashlib.sha256).hexdigest()
    write_json({"algorithm": "HMAC-SHA256", "file": "manifest.json", "key_id": _key_id(key), "signature": digest},
               folder / SIGNATURE)


def verify_run(run_dir: Path, check_inputs: bool = True, key: bytes | None = None,
               remote_sha256: Callable[[str], str | None] | None = None) -> list[str]:
    """Every difference between a run folder and what its run wrote (see the module's docstring)."""
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise InputNotFound(f"{manifest_path}: no manifest; not a mediclear run folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        outputs = manifest.get("outputs", [])
        if not isinstance(outputs, list) or not all(
                isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("sha256"), str)
                and isinstance(e.get("bytes"), int) for e in outputs):
            raise ValueError("its outputs are not a list of files with bytes and sha256")
        controls = manifest.get("control_totals", {})
        if not isinstance(controls, dict) or not all(
                isinstance(groups, dict) and all(isinstance(totals, dict) for totals in groups.values())
                for groups in controls.values()):
            raise ValueError("its control totals are not a table of sides, groups and totals")
    except (OSError, ValueError, AttributeError) as exc:
        return [f"{manifest_path}: malformed ({exc})"]
    problems = _check_outputs(run_dir, outputs)
    problems += _rederive(run_dir, controls)
    problems += _recheck_statements(run_dir, manifest_path)
    problems += _check_signature(run_dir, manifest_path, key)
    if check_inputs:
        for entry in manifest.get("inputs", []):
            name = str(entry.get("file", ""))
            if is_remote(name):
                problems += _check_remote_input(name, entry.get("sha256"), remote_sha256)
                continue
            path = Path(name)
            if not path.is_file():
                problems.append(f"{path}: input not found")
            elif sha256_file(path) != entry.get("sha256"):
                problems.append(f"{path}: input SHA-256 differs from the manifest")
    return problems


def _check_remote_input(uri: str, expected: Any, remote_sha256: Callable[[str], str | None] | None) -> list[str]:
    """A remote input (clear --engine spark read it from hdfs://, s3a://, ...) re-hashed where it lies."""
    if remote_sha256 is None:
        return [f"{uri}: a remote input, which re-hashing needs Spark for (pip install 'mediclear[spark]'; "
                "or --outputs-only)"]
    digest = remote_sha256(uri)
    if digest is None:
        return [f"{uri}: input not found"]
    return [] if digest == expected else [f"{uri}: input SHA-256 differs from the manifest"]


def _check_outputs(run_dir: Path, outputs: list[dict[str, Any]]) -> list[str]:
    import pyarrow.parquet as pq

    problems: list[str] = []
    listed = {e["file"] for e in outputs}
    for entry in outputs:
        path = run_dir / entry["file"]
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{path}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: SHA-256 differs from the manifest")
            continue
        if "rows" in entry and path.suffix == ".parquet":
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except Exception as exc:  # noqa: BLE001 - any reader failure is a finding, not a crash
                problems.append(f"{path}: cannot be read ({exc})")
                continue
            if rows != entry["rows"]:
                problems.append(f"{path}: {rows} rows, manifest says {entry['rows']}")
    for extra in sorted(run_dir.iterdir()):
        if extra.is_dir() and extra.name != "statements":
            problems.append(f"{extra}: a folder the manifest does not list")
        elif extra.is_file() and extra.name not in listed | {"manifest.json", SIGNATURE, CLOSED_MARKER}:
            problems.append(f"{extra}: not listed in the manifest")
    return problems


def _read(path: Path, columns: list[str]) -> list[dict[str, Any]] | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    return pq.ParquetFile(path).read(columns=columns).to_pylist()


def _hash_part(setl_id: str | None) -> int:
    """The setl_id hash total's term for one id (sql/recon/groups.sql): the first 60 bits of SHA-256."""
    return int(hashlib.sha256((setl_id or "").encode("utf-8")).hexdigest()[:15], 16)


def _number(value: Any) -> Decimal | None:
    """A control total as a number; None when the manifest holds anything else there (then it is a finding,
    never a crash: a hand-edited manifest is what verify exists to catch)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:  # decimal.InvalidOperation
        return None
    return number if number.is_finite() else None


def _rederive(run_dir: Path, controls: dict[str, Any]) -> list[str]:
    """The figures the outputs re-derive on their own, against the manifest and each other."""
    problems: list[str] = []
    money = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "clr_amt")
    try:
        held = _read(run_dir / "exceptions.parquet", ["side", "setl_id", *money])
        pairs = _read(run_dir / "pair_totals.parquet", ["insured_unit", "care_unit", "internal", "records", "clr_amt"])
        nets = _read(run_dir / "net_positions.parquet", ["unit", "receivable", "payable", "net"])
        moves = _read(run_dir / "transfers.parquet", ["payer", "payee", "amount"])
    except Exception as exc:  # noqa: BLE001 - an unreadable output is a finding, not a crash
        return [f"{run_dir}: outputs cannot be read ({exc})"]
    if held is not None:
        for side in schema.SIDES:
            rows = [r for r in held if r["side"] == side]
            want = (controls.get(side) or {}).get("held")
            if want is None:
                continue
            got = {"records": len(rows), **{m: sum((r[m] for r in rows if r[m] is not None), ZERO) for m in money},
                   "setl_id_hash_total": str(sum(_hash_part(r["setl_id"]) for r in rows))}
            for name, value in got.items():
                wanted = _number(want.get(name))
                if wanted is None or Decimal(value) != wanted:
                    problems.append(f"exceptions.parquet: {side} held {name} {value}, control totals say "
                                    f"{want.get(name)}")
    if pairs is not None:
        matched = (controls.get("ledger") or {}).get("matched")
        if matched is not None:
            records = sum(int(p["records"]) for p in pairs)
            amount = sum((p["clr_amt"] for p in pairs), ZERO)
            if _number(matched.get("records")) != records or _number(matched.get("clr_amt")) != amount:
                problems.append(f"pair_totals.parquet: {records} records, {amount} cleared; control totals say "
                                f"{matched.get('records')} matched ledger records, {matched.get('clr_amt')}")
        if nets is not None:
            derived: dict[str, list[Decimal]] = {}
            for p in pairs:
                if p["internal"]:
                    continue
                derived.setdefault(p["care_unit"], [ZERO, ZERO])[0] += p["clr_amt"]
                derived.setdefault(p["insured_unit"], [ZERO, ZERO])[1] += p["clr_amt"]
            for n in nets:
                rec, pay = derived.get(n["unit"], [ZERO, ZERO])
                if (rec, pay, rec - pay) != (n["receivable"], n["payable"], n["net"]):
                    problems.append(f"net_positions.parquet: unit {n['unit']} does not follow from pair_totals "
                                    f"(receivable {rec}, payable {pay})")
    if nets is not None and moves is not None:
        problems += _settles(run_dir, {n["unit"]: n["net"] for n in nets}, moves)
    return problems


def _settles(run_dir: Path, nets: dict[str, Decimal], moves: list[dict[str, Any]]) -> list[str]:
    problems = []
    if sum(nets.values(), ZERO) != 0:
        problems.append(f"{run_dir / 'net_positions.parquet'}: Σ net is not 0")
    settled: dict[str, Decimal] = {}
    for move in moves:
        settled[move["payer"]] = settled.get(move["payer"], ZERO) - move["amount"]
        settled[move["payee"]] = settled.get(move["payee"], ZERO) + move["amount"]
    if {u: v for u, v in settled.items() if v and u != "CENTRE"} != {u: v for u, v in nets.items() if v}:
        problems.append(f"{run_dir / 'transfers.parquet'}: transfers do not settle the net positions")
    return problems


def _recheck_statements(run_dir: Path, manifest_path: Path) -> list[str]:
    """statements/ (when present) must be the pages printed from this very run: their manifest names the
    run manifest's SHA-256, every page's hash matches, and every page prints the run manifest's hash."""
    folder = run_dir / "statements"
    listing = folder / "manifest.json"
    if not folder.exists():
        return []
    if not listing.is_file():
        return [f"{folder}: no manifest.json"]
    try:
        statements = json.loads(listing.read_text(encoding="utf-8"))
        files = [e for e in statements.get("files", []) if isinstance(e, dict) and isinstance(e.get("file"), str)]
    except (OSError, ValueError, AttributeError) as exc:
        return [f"{listing}: malformed ({exc})"]
    run_hash = sha256_file(manifest_path)
    problems = []
    if statements.get("run_manifest_sha256") != run_hash:
        problems.append(f"{listing}: printed from another run (its run manifest hash differs)")
    listed = set()
    for entry in files:
        listed.add(entry["file"])
        path = folder / entry["file"]
        if not path.is_file() or sha256_file(path) != entry.get("sha256"):
            problems.append(f"{path}: missing or differs from the statements manifest")
        elif path.name.startswith("unit-") and path.suffix == ".html" and run_hash not in path.read_text(
                encoding="utf-8", errors="replace"):
            problems.append(f"{path}: does not print this run's manifest hash")
    for extra in sorted(p.name for p in folder.iterdir()):
        if extra not in listed and extra != "manifest.json":
            problems.append(f"{folder / extra}: not listed in the statements manifest")
    return problems


def _check_signature(run_dir: Path, manifest_path: Path, key: bytes | None) -> list[str]:
    path = run_dir / SIGNATURE
    if key is None:
        return []
    if not path.is_file():
        return [f"{path}: missing; the run was not signed (clear --sign KEYFILE)"]
    try:
        signature = json.loads(path.read_text(encoding="utf-8"))
        given = str(signature["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path}: malformed ({exc})"]
    if signature.get("key_id") != _key_id(key):
        return [f"{path}: signed with another key (key id {signature.get('key_id')})"]
    expected = hmac.new(key, manifest_path.read_bytes(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return [f"{path}: the signature does not match manifest.json: the run was changed after it was signed"]
    return []
