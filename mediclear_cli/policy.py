"""参保地政策: the insured region's policy file, read and checked, and the recomputation of what the pooled fund
should have paid (sql/policy/check.sql holds the rule).

A policy file has one row per ratio band (Parquet, CSV/TXT/xlsx through sources.stage, or TOML with a
`bands` list per policy); the columns, with the Chinese headers accepted:

| column | 中文 | meaning |
|---|---|---|
| insu_admdvs | 参保地医保区划 | the insured unit: a pool (150100) or a province (150000, the default for its pools) |
| insutype | 险种类型 | 310, 390, …; empty: any |
| med_type_group | 医疗类别组 | inpatient 住院, outpatient 门诊, pharmacy 药店, other 其他; empty: any |
| hosp_lv | 医院等级 | matched against the settlement's hosp_lv column; empty: any |
| valid_from, valid_to | 生效日期, 失效日期 | the days the policy applies (both included; empty: open) |
| deductible | 起付线 | per person, calendar year, insutype and med_type group |
| band_upto | 分段上限 | the band covers the amount above the deductible up to this; empty: no upper limit (last band) |
| ratio | 报销比例 | the share the pooled fund pays in the band, 0 to 1 |
| annual_cap | 封顶线 | the pooled fund's most per person, calendar year and insutype; empty: none |

Promise: a file that does not describe policies unambiguously (a ratio above 1, money that is not exact to the
cent, bands of one policy with different deductibles or caps, bands out of order or overlapping, two open
bands) is exit 65 naming file, line and column — a policy is never guessed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mediclear_cli.errors import InputDataError
from mediclear_cli.schema import MONEY_ARROW

RATIO_ARROW = pa.decimal128(9, 6)
HEADERS = {
    "insu_admdvs": ("insu_admdvs", "insuplc_admdvs", "参保地医保区划", "参保地"),
    "insutype": ("insutype", "险种类型", "险种"),
    "med_type_group": ("med_type_group", "医疗类别组", "医疗类别"),
    "hosp_lv": ("hosp_lv", "医院等级"),
    "valid_from": ("valid_from", "生效日期", "开始日期"),
    "valid_to": ("valid_to", "失效日期", "结束日期"),
    "deductible": ("deductible", "起付线", "起付标准"),
    "band_upto": ("band_upto", "分段上限"),
    "ratio": ("ratio", "报销比例", "支付比例"),
    "annual_cap": ("annual_cap", "封顶线", "年度最高支付限额"),
}
REQUIRED = ("insu_admdvs", "deductible", "ratio")
KEY = ("insu_admdvs", "insutype", "med_type_group", "hosp_lv", "valid_from", "valid_to")
GROUPS = {"inpatient": "inpatient", "住院": "inpatient", "outpatient": "outpatient", "门诊": "outpatient",
          "pharmacy": "pharmacy", "药店": "pharmacy", "药店购药": "pharmacy", "other": "other", "其他": "other"}
ANY = ("", "*", "any", "全部")


@dataclass(frozen=True)
class Band:
    line: int  # the row in the policy file (1-based data row, as in validate's messages)
    values: dict[str, Any]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(value: Any, where: str, column: str, optional: bool = False) -> Decimal | None:
    text = _text(value)
    if text == "" and optional:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount >= 10**10:
        raise InputDataError(f"{where}: column {column!r}: {text!r} is not an amount exact to the cent (≥ 0)")
    return amount.quantize(Decimal("0.01"))


def _ratio(value: Any, where: str) -> Decimal:
    text = _text(value).removesuffix("%")
    try:
        ratio = Decimal(text) / (100 if _text(value).endswith("%") else 1)
    except InvalidOperation:
        ratio = Decimal("NaN")
    if not ratio.is_finite() or not 0 <= ratio <= 1 or ratio != ratio.quantize(Decimal("0.000001")):
        raise InputDataError(f"{where}: column 'ratio': {_text(value)!r} is not a share between 0 and 1 "
                             "(e.g. 0.85 or 85%)")
    return ratio


def _day(value: Any, where: str, column: str) -> date | None:
    if isinstance(value, date):
        return value
    text = _text(value)
    if text in ANY:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:  # a date with a time (2026-01-01 00:00:00, as an Excel date cell reads) keeps its date
            return datetime.strptime(text if fmt == "%Y%m%d" else text[:10], fmt).date()
        except ValueError:
            continue
    raise InputDataError(f"{where}: column {column!r}: {text!r} is not a date (YYYY-MM-DD)")


def _rows(path: Path, scratch: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, {column: value}) per band row, whatever the file's format."""
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputDataError(f"{path}: not a policy TOML file ({exc})") from None
        rows = []
        for number, policy in enumerate(data.get("policy", []), start=1):
            bands = policy.get("bands") or [{}]
            for band in bands:
                rows.append((number, {k: v for k, v in policy.items() if k != "bands"} | band))
        if not rows:
            raise InputDataError(f"{path}: no [[policy]] tables")
        return rows
    from mediclear_cli.sources import ReadOptions, stage

    rows = []
    for table in stage([path], scratch, ReadOptions().checked()):
        for number, record in enumerate(pq.read_table(table.path).to_pylist(), start=1):
            rows.append((number, record))
    return rows


def load_policy(path: Path, scratch: Path) -> pa.Table:
    """The policy file as policy_bands (one row per band, band_from filled in), checked."""
    rows = _rows(path, scratch)
    names = {k.strip().lower(): k for _, r in rows for k in r}
    found = {column: next((names[h.lower()] for h in headers if h.lower() in names), None)
             for column, headers in HEADERS.items()}
    missing = [c for c in REQUIRED if found[c] is None]
    if missing:
        raise InputDataError(f"{path}: no column {missing[0]!r} (or {' / '.join(HEADERS[missing[0]][1:])}); "
                             f"a policy file has {', '.join(HEADERS)}")
    policies: dict[tuple[Any, ...], list[Band]] = {}
    for line, record in rows:
        where = f"{path}: row {line}"
        raw = {c: record.get(src) if src else None for c, src in found.items()}
        unit = _text(raw["insu_admdvs"])
        if not (len(unit) == 6 and unit.isdigit()):
            raise InputDataError(f"{where}: column 'insu_admdvs': {unit!r} is not a 6-digit region code")
        group = _text(raw["med_type_group"]).lower()
        if group not in ANY and group not in GROUPS:
            raise InputDataError(f"{where}: column 'med_type_group': {group!r}; expected inpatient, outpatient, "
                                 "pharmacy, other (住院, 门诊, 药店, 其他) or empty for any")
        values = {
            "insu_admdvs": unit,
            "insutype": None if _text(raw["insutype"]) in ANY else _text(raw["insutype"]),
            "med_type_group": None if group in ANY else GROUPS[group],
            "hosp_lv": None if _text(raw["hosp_lv"]) in ANY else _text(raw["hosp_lv"]),
            "valid_from": _day(raw["valid_from"], where, "valid_from"),
            "valid_to": _day(raw["valid_to"], where, "valid_to"),
            "deductible": _money(raw["deductible"], where, "deductible"),
            "band_upto": _money(raw["band_upto"], where, "band_upto", optional=True),
            "ratio": _ratio(raw["ratio"], where),
            "annual_cap": _money(raw["annual_cap"], where, "annual_cap", optional=True),
        }
        policies.setdefault(tuple(values[k] for k in KEY), []).append(Band(line, values))
    out: list[dict[str, Any]] = []
    for key, bands in policies.items():
        first = bands[0]
        for band in bands[1:]:
            for column in ("deductible", "annual_cap"):
                if band.values[column] != first.values[column]:
                    raise InputDataError(f"{path}: row {band.line}: column {column!r} differs from row {first.line} "
                                         "of the same policy (one deductible and one cap per policy)")
        ordered = sorted(bands, key=lambda b: (b.values["band_upto"] is None, b.values["band_upto"] or 0))
        if sum(1 for b in ordered if b.values["band_upto"] is None) > 1:
            raise InputDataError(f"{path}: row {ordered[-1].line}: two bands without an upper limit in one policy")
        previous = Decimal("0.00")
        for band in ordered:
            upto = band.values["band_upto"]
            if upto is not None and upto <= previous:
                raise InputDataError(f"{path}: row {band.line}: column 'band_upto' {upto} does not lie above the "
                                     f"band before it ({previous})")
            unit, insutype, group, level, start, end = key
            out.append(band.values | {
                "policy_id": "/".join([unit, insutype or "*", group or "*", level or "*",
                                       f"{start or ''}..{end or ''}"]),
                "policy_line": min(b.line for b in bands), "band_from": previous})
            previous = upto if upto is not None else previous
    types: list[tuple[str, Any]] = [
        ("policy_id", pa.string()), ("policy_line", pa.int64()), ("insu_admdvs", pa.string()),
        ("insutype", pa.string()), ("med_type_group", pa.string()), ("hosp_lv", pa.string()),
        ("valid_from", pa.date32()), ("valid_to", pa.date32()), ("deductible", MONEY_ARROW),
        ("band_from", MONEY_ARROW), ("band_upto", MONEY_ARROW), ("ratio", RATIO_ARROW), ("annual_cap", MONEY_ARROW)]
    schema = pa.schema([pa.field(name, typ) for name, typ in types])
    return pa.Table.from_pylist([{n: r[n] for n in schema.names} for r in out], schema=schema)
