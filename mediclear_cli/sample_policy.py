"""The sample month's 参保地政策: a policy file for its insured regions, the platform's inscp_scp_amt (符合政策范围
金额) and act_pay_dedc (实际支付起付线) on every settlement, consistent with the policy and with each person's year
as `mediclear policy-check` computes it, and three kinds of wrong payment injected at a controlled rate with
labels (policy_labels.parquet):

- `ratio`: the fund applied another ratio (the care region's, 5 points higher) to the policy amount;
- `deductible`: a person's second outpatient visit of the year was charged the deductible again;
- `cap`: the fund paid past the person's annual cap (a pair of settlements of one person whose sum exceeds
  the cap of their pool and insutype; at most three per sample, among twelve candidate pairs of its first
  chunk — a pool where someone else's year exceeds the pair's sum cannot hold one).

The settlements' own amounts (hifp_pay and everything else) are those the sample always had: the policy
amounts are derived backwards from the fund's payment (the smallest policy amount whose payment, rounded
half-up to the cent, is exactly hifp_pay), so clearing outputs do not change. All draws come from their own
random stream. Everything is integer cents and ratios in parts per ten thousand: exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mediclear_cli.periods import Period

POLICY_RATE = 0.003  # each of ratio and deductible, per eligible settlement
CAP_PAIRS = 3  # over-cap cases per sample, chosen among CAP_CANDIDATES pairs of its first chunk
CAP_CANDIDATES = 12
DEFAULT_CAP = 30_000_000  # cents: 300,000 yuan, raised when a sample person's year needs more
Band = tuple[int, int | None, int]  # from (cents), up to (cents, None: no limit), ratio in parts per 10,000


@dataclass
class Policy:
    deductible: int
    bands: list[Band]


def _bands(ratios: list[tuple[int | None, int]]) -> list[Band]:
    out, start = [], 0
    for upto, ratio in ratios:
        out.append((start, upto, ratio))
        start = upto or start
    return out


def sample_policies(provinces: tuple[str, ...], pools_with_own: tuple[str, ...]) -> dict[tuple[str, str, str], Policy]:
    """(unit, insutype, group) -> policy: one per province, insutype and group (ratios differ by province),
    and the 本级 pools' own inpatient policies (a higher deductible and ratio)."""
    policies: dict[tuple[str, str, str], Policy] = {}
    for number, province in enumerate(provinces):
        v = (number % 3) * 200
        policies |= {
            (province, "310", "inpatient"): Policy(80_000, _bands([(3_000_000, 8_500 + v), (None, 9_000 + v)])),
            (province, "310", "outpatient"): Policy(20_000, _bands([(None, 6_000 + v)])),
            (province, "310", "pharmacy"): Policy(0, _bands([(None, 5_000)])),
            (province, "390", "inpatient"): Policy(60_000, _bands([(2_000_000, 7_000 + v), (None, 7_500 + v)])),
            (province, "390", "outpatient"): Policy(10_000, _bands([(None, 5_000 + v)])),
            (province, "390", "pharmacy"): Policy(0, _bands([(None, 4_000)])),
        }
    for pool in pools_with_own:
        province = pool[:2] + "0000"
        for insutype in ("310", "390"):
            base = policies.get((province, insutype, "inpatient"))
            if base is not None:
                policies[(pool, insutype, "inpatient")] = Policy(
                    base.deductible + 20_000, [(f, u, r + 300) for f, u, r in base.bands])
    return policies


def pay(policy: Policy, base: np.ndarray) -> np.ndarray:
    """The fund's payment (cents) on `base` cents above the deductible: Σ ratio × part in band, half-up."""
    total = np.zeros(base.shape, dtype=np.int64)
    for start, upto, ratio in policy.bands:
        top = base if upto is None else np.minimum(base, upto)
        total += ratio * np.maximum(top - start, 0)
    out: np.ndarray = (total + 5_000) // 10_000
    return out


def base_for(policy: Policy, fund: np.ndarray, ratio_shift: int = 0) -> np.ndarray:
    """The smallest base (cents) whose payment is exactly `fund` (≥ 0) under the policy (its ratios shifted)."""
    shifted = Policy(policy.deductible, [(f, u, r + ratio_shift) for f, u, r in policy.bands])
    estimate = np.zeros(fund.shape, dtype=np.int64)
    reached = 0
    for start, upto, ratio in shifted.bands:
        band_pay = None if upto is None else (upto - start) * ratio // 10_000
        inside = fund >= reached if band_pay is None else (fund >= reached) & (fund < reached + band_pay)
        estimate = np.where(inside, start + (fund - reached) * 10_000 // ratio, estimate)
        reached += band_pay or 0
    best = np.full(fund.shape, -1, dtype=np.int64)
    for step in range(-4, 12):
        candidate = np.maximum(estimate + step, 0)
        hit = (pay(shifted, candidate) == fund) & (best < 0)
        best = np.where(hit, candidate, best)
    missing = best < 0
    if missing.any():  # not expected (every ratio is below 1, so each cent of fund has a base); be exact anyway
        for i in np.flatnonzero(missing):
            exact = int(estimate[i])
            while pay(shifted, np.array([exact]))[0] < fund[i]:
                exact += 1
            best[i] = exact
    return best


@dataclass
class PolicyState:
    """What the generator carries from chunk to chunk: the largest year a person has had per (unit of an
    over-cap pair, insutype), the caps chosen, and the labels."""

    policies: dict[tuple[str, str, str], Policy]
    person_max: int = 0
    cap_pairs: list[dict[str, Any]] = field(default_factory=list)
    others_max: dict[tuple[str, str], int] = field(default_factory=dict)
    labels: list[tuple[str, str]] = field(default_factory=list)  # (setl_id, kind)

    def policy_of(self, insured: str, insutype: str, group: str) -> tuple[str, Policy] | None:
        for unit in (insured, insured[:2] + "0000"):
            found = self.policies.get((unit, insutype, group))
            if found is not None:
                return unit, found
        return None


def _setl_ids(rec: dict[str, Any]) -> np.ndarray:
    return np.char.add(np.char.add(rec["care"].astype("U6"), "G"), np.char.zfill(rec["seq"].astype(str), 13))


def add_policy_columns(state: PolicyState, claims: dict[str, Any], ledger: dict[str, Any],
                       labels: dict[str, np.ndarray], period: Period, rng: np.random.Generator, first_chunk: bool) -> None:
    """Set claims["inscp"], ["dedc"] and ledger's likewise (cents), inject the wrong payments, label them.
    Vectorised but for the persons with more than one settlement (a few percent): a 100M-row sample must not
    loop over its rows in Python."""
    ledger_label = labels["ledger"]
    kind = ledger["kind"].astype(str)
    groups = np.select([kind == "21", np.isin(kind, ["11", "14"]), kind == "41"],
                       ["inpatient", "outpatient", "pharmacy"], "other")
    n = ledger["seq"].size
    inscp = np.zeros(n, dtype=np.int64)
    dedc = np.zeros(n, dtype=np.int64)
    # every settlement as if it were its person's first of the year (the common case), one policy at a time
    keys = np.char.add(np.char.add(np.char.add(np.char.add(ledger["insured"].astype(str), "|"),
                                               ledger["insutype"].astype(str)), "|"), groups)
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=unique_keys.size))])
    for number, key in enumerate(unique_keys):
        insured, insutype, group = str(key).split("|")
        found = state.policy_of(insured, insutype, group)
        if found is None:
            continue
        policy = found[1]
        idx = order[bounds[number]:bounds[number + 1]]
        fund = ledger["hifp"][idx]
        sign = np.where(fund < 0, -1, 1)
        inscp[idx] = sign * (base_for(policy, np.abs(fund)) + policy.deductible)
        dedc[idx] = sign * policy.deductible
    # the rows policy-check counts in a person's year: valid, booked once
    eligible = ~np.isin(ledger_label, ["rejected", "duplicate"])
    person = ledger["person"]
    people, seen = np.unique(person[eligible], return_counts=True)
    repeated_person = np.isin(person, people[seen > 1])
    ids = _setl_ids(ledger)
    _replay(state, ledger, groups, inscp, dedc, [int(i) for i in np.flatnonzero(eligible & repeated_person)], ids)
    ledger["inscp"], ledger["dedc"] = inscp, dedc
    in_period = (ledger["setl_time"] >= np.datetime64(period.start, "s")) & \
        (ledger["setl_time"] < np.datetime64(period.end, "s"))
    plain = eligible & ~repeated_person & in_period & (ledger["refd"] == "0") & (ledger["hifp"] >= 10_000) & \
        (ledger_label == "matched")
    _inject(state, ledger, groups, plain, ids, rng, first_chunk)
    # the claims side carries the same values and person for the same settlement (by its number)
    sorter = np.argsort(ledger["seq"], kind="stable")
    at = np.minimum(np.searchsorted(ledger["seq"][sorter], claims["seq"]), n - 1)
    match = ledger["seq"][sorter][at] == claims["seq"]
    source = sorter[at]
    claims["person"] = np.where(match, ledger["person"][source], claims["person"])
    claims["inscp"] = np.where(match, ledger["inscp"][source], 0)
    claims["dedc"] = np.where(match, ledger["dedc"][source], 0)
    # each person's year per insutype (positive payments): the default cap stays above the largest, and an
    # over-cap pair's cap above everyone else's in its pool
    year_key = person[eligible].astype(np.int64) * 1000 + ledger["insutype"][eligible].astype(np.int64)
    years, first_row, which = np.unique(year_key, return_index=True, return_inverse=True)
    totals = np.zeros(years.size, dtype=np.int64)
    np.add.at(totals, which, np.maximum(ledger["hifp"][eligible], 0))
    if totals.size:
        state.person_max = max(state.person_max, int(totals.max()))
    others = ~np.isin(years // 1000, [pair["person"] for pair in state.cap_pairs])
    pools = np.char.add(ledger["insured"][eligible][first_row].astype("U6"), (years % 1000).astype("U3"))[others]
    unique_pools, pool_of = np.unique(pools, return_inverse=True)
    largest = np.zeros(unique_pools.size, dtype=np.int64)
    np.maximum.at(largest, pool_of, totals[others])
    for pool, value in zip(unique_pools, largest, strict=True):
        key = (str(pool[:6]), str(pool[6:]))
        state.others_max[key] = max(state.others_max.get(key, 0), int(value))


def _replay(state: PolicyState, ledger: dict[str, Any], groups: np.ndarray, inscp: np.ndarray, dedc: np.ndarray,
            rows: list[int], ids: np.ndarray) -> None:
    """The persons with more than one settlement, in the order policy-check reads them: each settlement's
    deductible due is what is left of the year's after the person's earlier ones (reversals give back)."""
    picked = np.array(rows, dtype=np.int64)
    order = [int(i) for i in picked[np.lexsort((ids[picked], ledger["setl_time"][picked], ledger["person"][picked]))]]
    paid: dict[tuple[int, str, str, int], int] = {}
    for i in order:
        found = state.policy_of(str(ledger["insured"][i]), str(ledger["insutype"][i]), str(groups[i]))
        if found is None:
            continue
        policy = found[1]
        year = int(str(ledger["setl_time"][i])[:4])
        key = (int(ledger["person"][i]), str(ledger["insutype"][i]), str(groups[i]), year)
        fund = int(ledger["hifp"][i])
        base = abs(int(inscp[i])) - policy.deductible  # the first pass's base_for(|fund|): history does not change it
        if fund < 0 or ledger["refd"][i] == "1":  # a reversal: gives back what a first settlement paid
            inscp[i] = -(base + policy.deductible)
            dedc[i] = -policy.deductible
        else:
            due = max(policy.deductible - paid.get(key, 0), 0)
            inscp[i] = base + due
            dedc[i] = due
        paid[key] = paid.get(key, 0) + int(dedc[i])


def _inject(state: PolicyState, ledger: dict[str, Any], groups: np.ndarray, plain: np.ndarray, ids: np.ndarray,
            rng: np.random.Generator, first_chunk: bool) -> None:
    taken = np.zeros(plain.size, dtype=bool)
    day = ledger["setl_time"].astype("datetime64[D]")
    # ratio: the fund paid hifp_pay at a ratio 5 points above the insured region's
    candidates = np.flatnonzero(plain & (groups != "other"))
    for i in rng.choice(candidates, size=min(candidates.size, max(1, int(plain.sum() * POLICY_RATE))), replace=False):
        found = state.policy_of(str(ledger["insured"][i]), str(ledger["insutype"][i]), str(groups[i]))
        assert found is not None
        policy = found[1]
        ledger["inscp"][i] = base_for(policy, np.array([ledger["hifp"][i]]), ratio_shift=500)[0] + ledger["dedc"][i]
        taken[i] = True
        state.labels.append((str(ids[i]), "ratio"))
    # deductible: two outpatient visits, days apart, become one person's; the second paid the deductible again
    # (a space sorts below every digit, so "pool insutype" keys sort as the (pool, insutype) pairs would)
    pool_keys = np.char.add(np.char.add(ledger["insured"].astype(str), " "), ledger["insutype"].astype(str))
    outpatient = np.flatnonzero(plain & (groups == "outpatient") & ~taken)
    # per pool and insutype, its earliest and its latest visit (ties: the first row, the last row)
    ordered = outpatient[np.lexsort((outpatient, ledger["setl_time"][outpatient], pool_keys[outpatient]))]
    _keys, starts, sizes = np.unique(pool_keys[ordered], return_index=True, return_counts=True)
    wanted = max(1, int(plain.sum() * POLICY_RATE))
    made = 0
    for start, size in zip(starts, sizes, strict=True):
        if made >= wanted or size < 2:
            continue
        first, second = int(ordered[start]), int(ordered[start + size - 1])
        if (day[second] - day[first]).astype(int) < 2 or ledger["dedc"][first] <= 0:
            continue
        ledger["person"][second] = ledger["person"][first]
        taken[[first, second]] = True
        state.labels.append((str(ids[second]), "deductible"))
        made += 1
    if not first_chunk:
        return
    # cap: a person's outpatient visit, then the pool's largest inpatient stay of the insutype, days later
    for joined in np.unique(pool_keys[plain]):
        key = tuple(str(joined).split(" "))
        if len(state.cap_pairs) >= CAP_CANDIDATES:
            break
        same = plain & ~taken & (ledger["insured"] == key[0]) & (ledger["insutype"] == key[1])
        stays = np.flatnonzero(same & (groups == "inpatient"))
        visits = np.flatnonzero(same & (groups == "outpatient"))
        if not stays.size or not visits.size:
            continue
        second = int(stays[np.argmax(ledger["hifp"][stays])])
        earlier = visits[(day[visits] + np.timedelta64(2, "D")) <= day[second]]
        if not earlier.size:
            continue
        first = int(earlier[np.argmax(ledger["hifp"][earlier])])
        if ledger["hifp"][first] < 20_000:
            continue
        ledger["person"][first] = ledger["person"][second]
        taken[[first, second]] = True
        state.cap_pairs.append({"unit": key[0], "insutype": key[1], "person": int(ledger["person"][second]),
                                "setl_id": str(ids[second]), "first": int(ledger["hifp"][first]),
                                "second": int(ledger["hifp"][second])})


def finish(state: PolicyState, period: Period) -> tuple[pa.Table, pa.Table]:
    """The policy file (one row per band, CSV-ready text) and the labels, once every chunk is generated."""
    year = period.start.year
    cap_default = max(DEFAULT_CAP, -(-state.person_max // 1_000_000) * 1_000_000)
    own_caps: dict[tuple[str, str], int] = {}
    labels = list(state.labels)
    for pair in state.cap_pairs:
        # the cap must hold everyone else's year and each of the pair's settlements alone, and not their sum
        low = max(state.others_max.get((pair["unit"], pair["insutype"]), 0), pair["first"], pair["second"])
        high = pair["first"] + pair["second"] - 100  # at least a yuan over
        if low >= high or len(own_caps) >= CAP_PAIRS:
            continue  # someone else of the pool reached more in the year: the pair would not stand out
        own_caps[(pair["unit"], pair["insutype"])] = (low + high) // 2
        labels.append((pair["setl_id"], "cap"))
    rows = []

    def add(unit: str, insutype: str, group: str, policy: Policy, cap: int) -> None:
        for _start, upto, ratio in policy.bands:
            rows.append({"insu_admdvs": unit, "insutype": insutype, "med_type_group": group,
                         "valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31",
                         "deductible": _yuan(policy.deductible), "band_upto": _yuan(upto) if upto is not None else "",
                         "ratio": f"{ratio / 10_000:.4f}", "annual_cap": _yuan(cap)})

    for (unit, insutype, group), policy in sorted(state.policies.items()):
        add(unit, insutype, group, policy, own_caps.get((unit, insutype), cap_default))
    for (unit, insutype), cap in sorted(own_caps.items()):
        if unit[2:] == "0000":
            continue
        for group in ("inpatient", "outpatient", "pharmacy"):
            if (unit, insutype, group) in state.policies:
                continue  # the pool's own policy already carries the cap
            found = state.policy_of(unit, insutype, group)
            if found is not None:
                add(unit, insutype, group, found[1], cap)
    policy_table = pa.Table.from_pylist(rows)
    label_table = pa.table({"setl_id": pa.array([s for s, _ in labels], pa.string()),
                            "kind": pa.array([k for _, k in labels], pa.string())})
    return policy_table, label_table


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
