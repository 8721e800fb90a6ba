"""`mediclear sample`: a realistic synthetic month of hospital extracts and agency ledgers, with labels.

What it makes (deterministic for a seed, generated in chunks so it reaches 100M rows without holding them):
- real province, prefecture, county and 本级 pool codes (names from the national table), hospitals coded
  H + 11 digits whose first six are the care region; settlement ids shaped like the platform's
  (`520200G0000000494465`); 18-digit ID numbers with valid check digits; Chinese names;
- amounts in whole cents that satisfy medfee = fund + acct + cash and fund = Σ breakdown; reversals
  (negative rows with refd_setl_flag '1'); outpatient, chronic, inpatient and pharmacy settlements;
- every category of contract §3 injected at a controlled rate, plus rejected rows, plus harmless noise the
  reader must normalise (full-width digits, padded ids) — and `labels.parquet`: for every row of every file,
  its side, file, row number and the category reconciliation must give it;
- the ledger uses the agency's column spellings (insu_admdvs, fix_blng_admdvs, cash_payamt, othfund_pay) and
  timestamps; the hospital extract uses the platform's names and `yyyy-MM-dd HH:mm:ss` text;
- `regions.parquet` (a register with the 本级 pools) and `prepaid.parquet` (province prepaid funds, some of
  which will fall below their warning line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mediclear_cli.errors import OutputError
from mediclear_cli.names import national_names
from mediclear_cli.periods import Period
from mediclear_cli.sample_policy import PolicyState, add_policy_columns, finish, sample_policies
from mediclear_cli.schema import MONEY_ARROW

CHUNK = 1_000_000
HOSPITALS = 8  # designated hospitals per care region: enough settlements each for per-hospital statistics
# Provinces in the sample and the 本级 pools they run beside their prefectures.
PROVINCES = ("110000", "130000", "150000", "320000", "330000", "410000", "440000", "510000", "520000", "310000")
EXTRA_POOLS = {"139900": "河北省本级", "520199": "贵阳市本级", "150199": "呼和浩特市本级"}
# Injection rates per settlement (the rest match); reversals are added on top.
RATES = {
    "claim_only": 0.010,
    "ledger_only": 0.010,
    "amount_mismatch": 0.006,
    "attr_mismatch": 0.004,
    "duplicate": 0.003,
    "out_of_period": 0.004,
    "rejected_claims": 0.003,
    "rejected_ledger": 0.002,
}
REVERSAL_RATE = 0.02
NOISE_RATE = 0.01
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鑫建国志新海波宁晨欣怡浩然子涵宇轩梓睿思雨")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


@dataclass
class Geography:
    pools: np.ndarray  # pool codes that insure people
    pool_prov: np.ndarray
    care_codes: np.ndarray  # regions where hospitals are (prefectures and counties)
    care_prov: np.ndarray
    register: pa.Table


def geography() -> Geography:
    table = national_names()
    pools: list[str] = []
    care: list[str] = []
    rows: list[dict[str, str]] = []
    for prov in PROVINCES:
        prefs = sorted(c for c in table if c[:2] == prov[:2] and c[4:] == "00" and c[2:4] != "00")
        if not prefs:  # municipalities: the city is one pool, its districts are care regions
            prefs = [prov[:2] + "0100"]
        for pref in prefs[:6]:
            pools.append(pref)
            counties = sorted(c for c in table if c[:4] == pref[:4] and c[4:] != "00")[:3]
            for code in [pref] + counties:
                care.append(code)
                rows.append({"admdvs": code, "pool_admdvs": pref, "prov_admdvs": prov,
                             "admdvs_name": table.get(code, table.get(prov, ""))})
    for code, name in EXTRA_POOLS.items():
        prov = code[:2] + "0000"
        if prov in PROVINCES:
            pools.append(code)
            rows.append({"admdvs": code, "pool_admdvs": code, "prov_admdvs": prov, "admdvs_name": name})
    rows.sort(key=lambda r: r["admdvs"])
    unique = {r["admdvs"]: r for r in rows}
    return Geography(
        pools=np.array(pools),
        pool_prov=np.array([p[:2] + "0000" for p in pools]),
        care_codes=np.array(care),
        care_prov=np.array([c[:2] + "0000" for c in care]),
        register=pa.Table.from_pylist(list(unique.values())),
    )


def money(cents: np.ndarray) -> pa.Array[Any]:
    """Exact DECIMAL(18,2) from integer cents, built from the 128-bit two's-complement words directly."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty(cents.size * 2, dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(MONEY_ARROW, cents.size, [None, pa.py_buffer(words.tobytes())])


def _digits(values: np.ndarray, width: int) -> pa.Array[Any]:
    return pc.utf8_lpad(pa.array(values.astype(np.int64)).cast(pa.string()), width, "0")


def _concat(*parts: Any) -> pa.Array[Any]:
    joined: pa.Array[Any] = pc.binary_join_element_wise(*parts, "")
    return joined


def _certno(rng: np.random.Generator, regions: np.ndarray) -> pa.Array[Any]:
    n = regions.size
    birth = np.datetime64("1940-01-01") + rng.integers(0, 365 * 80, n).astype("timedelta64[D]")
    ymd = np.char.replace(birth.astype(str), "-", "")
    body = np.char.add(np.char.add(regions.astype("U6"), ymd), np.char.zfill(rng.integers(0, 1000, n).astype(str), 3))
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - ord("0")
    check = _ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
    return pa.array(np.char.add(body, check))


def _names(rng: np.random.Generator, n: int) -> pa.Array[Any]:
    surname = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    given = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    second = np.where(rng.random(n) < 0.6, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    return pa.array(np.char.add(np.char.add(surname, given), second))


def _settlements(rng: np.random.Generator, geo: Geography, period: Period, start: int, n: int) -> dict[str, Any]:
    """n base settlements as numpy columns (amounts in cents)."""
    ins_idx = rng.integers(0, geo.pools.size, n)
    insured = geo.pools[ins_idx]
    # 55% cross-province, the rest inside the insured province (some in the insured pool itself).
    same_prov = rng.random(n) < 0.45
    care_idx = rng.integers(0, geo.care_codes.size, n)
    for _ in range(6):  # resample until the care region agrees with the cross/intra choice
        wrong = (geo.care_prov[care_idx] == geo.pool_prov[ins_idx]) != same_prov
        if not wrong.any():
            break
        care_idx[wrong] = rng.integers(0, geo.care_codes.size, int(wrong.sum()))
    care = geo.care_codes[care_idx]
    kind = rng.choice(np.array(["11", "14", "21", "41"]), n, p=[0.5, 0.15, 0.25, 0.10])
    clr_type = np.where(kind == "14", "11", kind)
    inpatient = kind == "21"
    medfee = np.where(
        inpatient,
        np.round(rng.lognormal(9.4, 0.8, n) * 100),
        np.round(rng.lognormal(5.3, 0.9, n) * 100),
    ).astype(np.int64) + 100
    fund = (medfee * rng.uniform(0.45, 0.9, n)).astype(np.int64)
    acct = ((medfee - fund) * np.where(rng.random(n) < 0.5, rng.uniform(0, 0.6, n), 0)).astype(np.int64)
    cash = medfee - fund - acct
    insutype = np.where(rng.random(n) < 0.6, "310", "390")
    hifmi = np.where(inpatient, (fund * rng.uniform(0, 0.2, n)).astype(np.int64), 0)
    cvlserv = np.where((insutype == "310") & (rng.random(n) < 0.1), (fund * 0.05).astype(np.int64), 0)
    maf = np.where(rng.random(n) < 0.03, (fund * 0.05).astype(np.int64), 0)
    hifob = np.where(inpatient & (medfee > 5_000_000), (fund * 0.1).astype(np.int64), 0)
    hifp = fund - hifmi - cvlserv - maf - hifob
    seconds = (period.end - period.start).total_seconds()
    offsets = rng.integers(0, int(seconds), n)
    setl_time = np.datetime64(period.start, "s") + offsets.astype("timedelta64[s]")
    seq = np.arange(start, start + n, dtype=np.int64)
    hosp = rng.integers(0, HOSPITALS, n)
    # admission and discharge dates (begndate/enddate): a visit day for outpatients, a 1-14 day stay otherwise
    end = setl_time.astype("datetime64[D]")
    begn = end - np.where(inpatient, rng.integers(1, 15, n), 0).astype("timedelta64[D]")
    return {
        "begn": begn, "end": end,
        "seq": seq, "insured": insured, "care": care, "kind": kind, "clr_type": clr_type, "insutype": insutype,
        "medfee": medfee, "fund": fund, "acct": acct, "cash": cash, "hifp": hifp, "hifmi": hifmi,
        "cvlserv": cvlserv, "maf": maf, "hifob": hifob, "setl_time": setl_time, "hosp": hosp,
        "clr_way": np.where(inpatient, np.where(rng.random(n) < 0.5, "40", "30"), "10"),
        "refd": np.full(n, "0"), "person": _people(seq, rng.integers(0, 10**9, n)),
    }


def _people(seq: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """One person per settlement, never two by chance: a bijection of the settlement number (the random draw
    it replaced is still made, so every later draw of the month stays as it was). People repeat only where a
    pattern or the policy injection makes them."""
    del drawn
    people: np.ndarray = (seq * 2_654_435_761) % 10**12
    return people


def _with_reversals(rng: np.random.Generator, base: dict[str, Any], period: Period) -> dict[str, Any]:
    """Append reversal rows: new ids, negated amounts, later in the month, refd_setl_flag '1'."""
    n = base["seq"].size
    pick = np.flatnonzero(rng.random(n) < REVERSAL_RATE)
    end = np.datetime64(period.end, "s") - np.timedelta64(1, "s")
    out = {}
    for key, values in base.items():
        extra = values[pick].copy()
        if key in ("medfee", "fund", "acct", "cash", "hifp", "hifmi", "cvlserv", "maf", "hifob"):
            extra = -extra
        elif key == "seq":
            extra = extra + 5 * 10**12  # a separate id range for reversals
        elif key == "setl_time":
            extra = np.minimum(extra + rng.integers(60, 3 * 86400, pick.size).astype("timedelta64[s]"), end)
        elif key == "refd":
            extra = np.full(pick.size, "1")
        out[key] = np.concatenate([values, extra])
    return out


PATTERN_RATE = 0.002  # each risk pattern, per base settlement (at least one of each per chunk)
MONEY_KEYS = ("medfee", "fund", "acct", "cash", "hifp", "hifmi", "cvlserv", "maf", "hifob")


def setl_ids(rec: dict[str, Any]) -> np.ndarray:
    """The setl_id text of each row, as _table writes it."""
    return np.char.add(np.char.add(rec["care"].astype("U6"), "G"), np.char.zfill(rec["seq"].astype(str), 13))


def _append(rec: dict[str, Any], rows: np.ndarray, changes: dict[str, Any]) -> dict[str, Any]:
    extra = {key: values[rows].copy() for key, values in rec.items()}
    extra.update(changes)
    return {key: np.concatenate([rec[key], extra[key]]) for key in rec}


def _patterns(rng: np.random.Generator, rec: dict[str, Any], geo: Geography, period: Period,
              id_base: int) -> tuple[dict[str, Any], np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Inject the six risk patterns of `mediclear screen`; returns the records, which rows must stay matched
    on both sides (so the ledger holds them), and (rule, setl_id, partner setl_id or '') labels."""
    n = rec["seq"].size
    count = max(1, int(n * PATTERN_RATE))
    last = np.datetime64(period.end, "s") - np.timedelta64(1, "s")
    normal = rec["refd"] == "0"
    inpatient = (rec["kind"] == "21") & normal
    outpatient = np.isin(rec["kind"], ["11", "14"]) & normal
    taken = np.zeros(n, dtype=bool)
    next_id = [id_base]
    labels: list[tuple[str, np.ndarray, np.ndarray]] = []

    def pick(mask: np.ndarray) -> np.ndarray:
        candidates = np.flatnonzero(mask & ~taken)
        chosen = rng.choice(candidates, size=min(count, candidates.size), replace=False)
        taken[chosen] = True
        return np.sort(chosen)

    def new_ids(k: int) -> np.ndarray:
        ids = np.arange(next_id[0], next_id[0] + k, dtype=np.int64)
        next_id[0] += k
        return ids

    def other_province(rows: np.ndarray) -> np.ndarray:
        care = rec["care"][rows].copy()
        for i in range(rows.size):
            options = geo.care_codes[geo.care_prov != care[i][:2] + "0000"]
            care[i] = options[rng.integers(0, options.size)]
        chosen: np.ndarray = care
        return chosen

    def add(rule: str, rows: np.ndarray, changes: dict[str, Any]) -> None:
        nonlocal rec
        before = rec["seq"].size
        rec = _append(rec, rows, {"seq": new_ids(rows.size), **changes})
        new_rows = np.arange(before, rec["seq"].size)
        ids = setl_ids(rec)
        labels.append((rule, ids[rows], ids[new_rows]))

    # 1 the same outpatient settlement again under a new id, within two hours
    rows = pick(outpatient)
    add("duplicate_settlement", rows, {"setl_time": np.minimum(
        rec["setl_time"][rows] + rng.integers(60, 7200, rows.size).astype("timedelta64[s]"), last)})
    # 2 the same stay, at the same time, in a hospital of another province
    rows = pick(inpatient)
    add("overlapping_stays", rows, {"care": other_province(rows), "hosp": rng.integers(0, HOSPITALS, rows.size),
                                    "setl_time": np.minimum(rec["setl_time"][rows] + np.timedelta64(3600, "s"),
                                                            last)})
    # 3 readmission to the same hospital 1-14 days after discharge
    room = np.datetime64(period.end, "D") - np.timedelta64(25, "D")
    rows = pick(inpatient & (rec["end"][:n] <= room))
    gap = rng.integers(1, 15, rows.size).astype("timedelta64[D]")
    stay = rng.integers(1, 6, rows.size).astype("timedelta64[D]")
    begn = rec["end"][rows] + gap
    add("readmission", rows, {"begn": begn, "end": begn + stay,
                              "setl_time": (begn + stay).astype("datetime64[s]") + np.timedelta64(36000, "s")})
    # 4 outpatient settlements of one person in two provinces on the same day
    rows = pick(outpatient)
    day = rec["setl_time"][rows].astype("datetime64[D]")
    add("two_provinces_same_day", rows, {"care": other_province(rows),
                                         "setl_time": day.astype("datetime64[s]") + rng.integers(
                                             0, 86400, rows.size).astype("timedelta64[s]")})
    # 5 a reversal whose original settlement is nowhere in the month (its visit id is new)
    rows = pick(normal)
    negated = {key: -rec[key][rows] for key in MONEY_KEYS}
    before = rec["seq"].size
    rec = _append(rec, rows, {"seq": new_ids(rows.size) + 10**12, "refd": np.full(rows.size, "1"), **negated})
    ids = setl_ids(rec)
    labels.append(("reversal_without_original", ids[before:], np.full(rows.size, "")))
    # 6 a cost far above what the same hospital charges for the same type of care: an ordinary visit (about
    # 200 yuan) billed at 300,000-900,000 yuan, by a whole multiple so every money identity still holds
    rows = pick(outpatient & (rec["kind"][:n] == "11"))
    factor = np.maximum(500, rng.integers(30_000_000, 90_000_000, rows.size) // rec["medfee"][rows])
    for key in MONEY_KEYS:
        rec[key][rows] = rec[key][rows] * factor
    labels.append(("cost_outlier", setl_ids(rec)[rows], np.full(rows.size, "")))
    protected = np.zeros(rec["seq"].size, dtype=bool)
    protected[:n] = taken
    protected[n:] = True
    return rec, protected, labels


def _table(rec: dict[str, Any], rng: np.random.Generator, side: str) -> pa.Table:
    n = rec["seq"].size
    care = pa.array(rec["care"])
    insured = pa.array(rec["insured"])
    setl_id = _concat(care, pa.array(np.full(n, "G")), _digits(rec["seq"], 13))
    # a reversal (ids 5e12 + original) shares its original's visit id; other ids have a visit of their own
    mdtrt_id = _concat(care, pa.array(np.full(n, "M")), _digits(rec["seq"] % (5 * 10**12), 13))
    psn_no = _concat(insured, pa.array(np.full(n, "P")), _digits(rec["person"], 12))
    fixmedins = _concat(pa.array(np.full(n, "H")), care, _digits(rec["hosp"] + 10, 5))
    cols: dict[str, Any] = {
        "setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no,
        "certno": rec["certno"], "psn_name": rec["psn_name"],
        "insutype": pa.array(rec["insutype"]), "med_type": pa.array(rec["kind"]),
        "clr_type": pa.array(rec["clr_type"]), "clr_way": pa.array(rec["clr_way"]),
        "fixmedins_code": fixmedins,
    }
    when = pa.array(rec["setl_time"].astype("datetime64[us]"))
    cols["begndate"] = pa.array(rec["begn"].astype("datetime64[D]"))
    cols["enddate"] = pa.array(rec["end"].astype("datetime64[D]"))
    amounts = {
        "medfee_sumamt": money(rec["medfee"]), "fund_pay_sumamt": money(rec["fund"]), "acct_pay": money(rec["acct"]),
        "hifp_pay": money(rec["hifp"]), "cvlserv_pay": money(rec["cvlserv"]), "hifob_pay": money(rec["hifob"]),
        "hifmi_pay": money(rec["hifmi"]), "maf_pay": money(rec["maf"]),
    }
    if side == "claims":
        cols["setl_time"] = pc.strftime(when.cast(pa.timestamp("s")), "%Y-%m-%d %H:%M:%S")
        cols |= amounts
        cols["psn_cash_pay"] = money(rec["cash"])
        cols["oth_pay"] = money(np.zeros(n, dtype=np.int64))
        cols["refd_setl_flag"] = pa.array(rec["refd"])
        cols["insuplc_admdvs"] = insured
        cols["mdtrtarea_admvs"] = care
        cols["memo"] = pa.array(np.full(n, ""))
    else:
        cols["setl_time"] = when
        cols |= amounts
        cols["cash_payamt"] = money(rec["cash"])
        cols["othfund_pay"] = money(np.zeros(n, dtype=np.int64))
        cols["refd_setl_flag"] = pa.array(rec["refd"])
        cols["insu_admdvs"] = insured
        cols["fix_blng_admdvs"] = care
        cols["clr_optins"] = _concat(pa.array(rec["care"].astype("U4")), pa.array(np.full(n, "00")))
        cols["vali_flag"] = pa.array(np.full(n, "1"))
    if "inscp" in rec:  # 符合政策范围金额 and 实际支付起付线, as the platform names them (sample_policy.py)
        cols["inscp_scp_amt"] = money(rec["inscp"])
        cols["act_pay_dedc"] = money(rec["dedc"])
    return pa.table(cols)


def _inject(rng: np.random.Generator, rec: dict[str, Any], period: Period,
            protected: np.ndarray) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """Split the settlements into the claims and ledger sides, injecting every category; returns labels."""
    n = rec["seq"].size
    draw = rng.random(n)
    label = np.full(n, "matched", dtype=object)
    edge = 0.0
    for name, rate in RATES.items():
        label[(draw >= edge) & (draw < edge + rate)] = name
        edge += rate
    label[protected] = "matched"  # risk-pattern rows stay on both sides, so the ledger holds every one
    claims = {k: v.copy() for k, v in rec.items()}
    ledger = {k: v.copy() for k, v in rec.items()}
    claims_label = label.copy()
    ledger_label = label.copy()
    # amount_mismatch: the hospital reports a different total cost (its cash share moves with it).
    m = label == "amount_mismatch"
    delta = rng.integers(1, 5000, n)
    claims["medfee"] = np.where(m, claims["medfee"] + delta, claims["medfee"])
    claims["cash"] = np.where(m, claims["cash"] + delta, claims["cash"])
    # attr_mismatch: the hospital codes the medical type differently.
    a = label == "attr_mismatch"
    claims["kind"] = np.where(a, np.where(claims["kind"] == "11", "14", "11"), claims["kind"])
    # out_of_period: a settlement of the previous month that arrives in this month's files, on both sides.
    o = label == "out_of_period"
    back = rng.integers(3600, 10 * 86400, n).astype("timedelta64[s]")
    earlier = np.datetime64(period.start, "s") - back
    claims["setl_time"] = np.where(o, earlier, claims["setl_time"])
    ledger["setl_time"] = np.where(o, earlier, ledger["setl_time"])
    # rejected rows: the hospital's total does not add up (claims), or the ledger's region code is 5 digits.
    rc = label == "rejected_claims"
    claims["medfee"] = np.where(rc, claims["medfee"] + 1, claims["medfee"])
    claims_label[rc] = "rejected"
    ledger_label[rc] = "ledger_only"
    rl = label == "rejected_ledger"
    ledger["insured"] = np.where(rl, np.char.ljust(ledger["insured"].astype("U6"), 6).astype("U5"), ledger["insured"])
    ledger_label[rl] = "rejected"
    claims_label[rl] = "claim_only"
    claims_keep = label != "ledger_only"
    ledger_keep = label != "claim_only"
    # The rows a side never got this month; a multi-month sample delivers some of them in next month's files.
    withheld = {"claims": {k: v[~claims_keep] for k, v in claims.items()},
                "ledger": {k: v[~ledger_keep] for k, v in ledger.items()}}
    # duplicate: the ledger books the settlement twice.
    dup = np.flatnonzero(label == "duplicate")
    claims = {k: v[claims_keep] for k, v in claims.items()}
    claims_label = claims_label[claims_keep]
    ledger = {k: np.concatenate([v[ledger_keep], v[dup]]) for k, v in ledger.items()}
    ledger_label = np.concatenate([ledger_label[ledger_keep], label[dup]])
    return claims, ledger, {"claims": claims_label, "ledger": ledger_label}, withheld


def _noise(rng: np.random.Generator, table: pa.Table, labels: np.ndarray) -> pa.Table:
    """Harmless variations the reader must normalise: full-width digits and padding in ids and codes."""
    n = table.num_rows
    pick = rng.random(n) < NOISE_RATE
    if not pick.any():
        return table
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    ids = table.column("setl_id").to_pylist()
    regions = table.column("insuplc_admdvs").to_pylist()
    for i in np.flatnonzero(pick):
        if labels[i] == "rejected":
            continue
        if i % 2:
            ids[i] = str(ids[i]).translate(fw)
        else:
            ids[i] = f" {ids[i]}\u3000"
            regions[i] = str(regions[i]).translate(fw) if regions[i] else regions[i]
    table = table.set_column(table.schema.get_field_index("setl_id"), "setl_id", pa.array(ids))
    return table.set_column(table.schema.get_field_index("insuplc_admdvs"), "insuplc_admdvs", pa.array(regions))


def generate(out_dir: Path, rows: int, period: Period, seed: int, id_base: int = 0,
             late_share: float = 0.0) -> dict[str, Any]:
    """Write claims/, ledger/, regions.parquet, prepaid.parquet and labels.parquet into out_dir.

    id_base offsets the settlement numbers (months of one multi-month sample never share a setl_id);
    late_share > 0 returns that share of each side's missing rows (claim_only's ledger rows, ledger_only's
    claims rows) in info["late"], for the caller to deliver with next month's files."""
    late: dict[str, list[pa.Table]] = {"claims": [], "ledger": []}
    late_rng = np.random.default_rng([seed, 7])  # a separate stream: the month's own files do not change
    policy_rng = np.random.default_rng([seed, 11])  # likewise for the policy injections
    policy = PolicyState(sample_policies(PROVINCES, tuple(EXTRA_POOLS)))
    try:
        for sub in ("claims", "ledger"):
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
            for old in [*(out_dir / sub).glob("part-*.parquet"), *(out_dir / sub).glob("late-from-*.parquet")]:
                old.unlink()
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create ({exc.strerror})") from None
    geo = geography()
    rng = np.random.default_rng(seed)
    counts = {"claims": 0, "ledger": 0}
    label_schema = pa.schema([pa.field("side", pa.string()), pa.field("file", pa.string()),  # type: ignore[arg-type]
                              pa.field("row", pa.int64()), pa.field("category", pa.string())])  # (pyarrow-stubs)
    labels_out = pq.ParquetWriter(out_dir / "labels.parquet", label_schema, compression="zstd")
    screen_schema = pa.schema([("rule", pa.string()), ("setl_id", pa.string()), ("partner", pa.string())])
    screen_out = pq.ParquetWriter(out_dir / "screen_labels.parquet", screen_schema, compression="zstd")
    clr_by_prov: dict[str, int] = {}
    chunks = max(1, -(-rows // CHUNK))
    for chunk in range(chunks):
        n = min(CHUNK, rows - chunk * CHUNK)
        base = _settlements(rng, geo, period, id_base + chunk * CHUNK, n)
        rec = _with_reversals(rng, base, period)
        rec, protected, patterns = _patterns(rng, rec, geo, period, 7 * 10**12 + id_base + chunk * CHUNK)
        for rule, ids, partners in patterns:
            screen_out.write_table(pa.table({"rule": pa.array(np.full(ids.size, rule)), "setl_id": pa.array(ids),
                                             "partner": pa.array(partners)}, schema=screen_schema))
        rec["certno"] = _certno(rng, rec["insured"]).to_numpy(zero_copy_only=False)
        rec["psn_name"] = _names(rng, rec["seq"].size).to_numpy(zero_copy_only=False)
        provs, amounts = np.unique(np.char.add(rec["insured"].astype("U2"), "0000"), return_inverse=True)
        for i, prov in enumerate(provs):
            clr_by_prov[prov] = clr_by_prov.get(prov, 0) + int((rec["fund"] + rec["acct"])[amounts == i].sum())
        claims, ledger, labels, withheld = _inject(rng, rec, period, protected)
        add_policy_columns(policy, claims, ledger, labels, period, policy_rng, chunk == 0)
        if late_share:
            for side, side_rec in withheld.items():
                keep = late_rng.random(side_rec["seq"].size) < late_share
                if keep.any():
                    late[side].append(_table({k: v[keep] for k, v in side_rec.items()}, late_rng, side))
        name = f"part-{chunk + 1:04d}.parquet"
        for side, side_rec in (("claims", claims), ("ledger", ledger)):
            table = _table(side_rec, rng, side)
            order = rng.permutation(table.num_rows)
            table = table.take(order)
            side_labels = labels[side][order]
            if side == "claims":
                table = _noise(rng, table, side_labels)
            pq.write_table(table, out_dir / side / name, compression="zstd")
            labels_out.write_table(pa.table({
                "side": pa.array(np.full(table.num_rows, side)),
                "file": pa.array(np.full(table.num_rows, f"{side}/{name}")),
                "row": pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)),
                "category": pa.array(side_labels.astype(str)),
            }, schema=label_schema))
            counts[side] += table.num_rows
    labels_out.close()
    screen_out.close()
    pq.write_table(geo.register, out_dir / "regions.parquet")
    policy_table, policy_labels = finish(policy, period)
    pa_csv.write_csv(policy_table, out_dir / "policy.csv")
    pq.write_table(policy_labels, out_dir / "policy_labels.parquet")
    units = sorted(clr_by_prov)
    # Prepaid funds sized around a month's outlay (policy: about two months; some provinces run short).
    opening = [clr_by_prov[u] * int(rng.integers(8, 25)) // 10 for u in units]
    warning = [clr_by_prov[u] * 14 // 10 for u in units]
    pq.write_table(
        pa.table({"unit": pa.array(units), "opening_balance": money(np.array(opening)),
                  "warning_line": money(np.array(warning))}),
        out_dir / "prepaid.parquet",
    )
    return {"claims_rows": counts["claims"], "ledger_rows": counts["ledger"], "period": period.label,
            "seed": seed, "window": [period.start, period.start + timedelta(days=0)], "late": late}


LATE_SHARE = 0.7  # of a month's one-sided settlements, the share whose partner arrives with next month's files


def generate_months(out_dir: Path, rows: int, first: Period, months: int, seed: int) -> list[dict[str, Any]]:
    """Consecutive months in out_dir/YYYY-MM/, for the workspace routine: each month's claims/ and ledger/ also
    hold late-from-YYYY-MM.parquet, the previous month's settlements that reached one side only then."""
    infos = []
    pending: dict[str, list[pa.Table]] = {}
    for i in range(months):
        period = first.shift(i)
        folder = out_dir / period.label
        info = generate(folder, rows, period, seed + i, id_base=i * 10**11,
                        late_share=LATE_SHARE if i < months - 1 else 0.0)
        for side, tables in pending.items():
            if tables:
                pq.write_table(pa.concat_tables(tables, promote_options="permissive"),
                               folder / side / f"late-from-{period.shift(-1).label}.parquet", compression="zstd")
                info[f"{side}_late_rows"] = sum(t.num_rows for t in tables)
        pending = info.pop("late")
        infos.append(info)
    return infos
