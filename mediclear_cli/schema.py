"""Column contracts of the inputs and outputs, the money type, and the row rules, declared once.

Everything else — the reader's projections, validation SQL, reason texts in reports and the docs — is
generated from the tables here, so a rule is changed in one place. Money is DECIMAL(18,2) in DuckDB and
`decimal128(18, 2)` in Arrow; `Decimal` at the Python edges; never a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pyarrow as pa

MONEY_SQL = "DECIMAL(18,2)"
MONEY_ARROW = pa.decimal128(18, 2)
# No settlement amount reaches ten billion yuan; a larger one is bad_money. The bound keeps every total
# exact within DECIMAL(18,2) (< 10^16) for up to a million such rows, instead of a run stopped by an overflow.
MONEY_LIMIT = "10000000000.00"
# Money as text: digits, one optional point, optional sign — no exponent (Excel's 1.23457E+11 is a rounded
# display), no digit separators (1_000 or 1,000 are ambiguous across locales), and nothing beyond the cent
# but zeros (12.3400 is exact; 12.3400000000000000001 is not).
# Oracle writes 0.5 as .5, which is accepted.
MONEY_TEXT_PATTERN = r"[+-]?([0-9]{1,16}(\.[0-9]{0,2}0*)?|\.[0-9]{1,2}0*)"

SIDES = ("claims", "ledger")
SIDE_LABELS = {"claims": "医药机构结算明细", "ledger": "经办机构台账"}


class Kind(str, Enum):
    KEY = "key"
    TIME = "time"
    MONEY = "money"
    REGION = "region"  # a 6-digit region code
    CODE = "code"  # any other text code or identifier
    PERSONAL = "personal"  # personal data: masked in every output, never logged


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    needed_by: tuple[str, ...]  # the sides for which the column is required
    label_zh: str
    aliases: tuple[str, ...] = ()
    # Chinese column headers (besides label_zh) that exports use for this column: 结算编号, 姓名, …
    headers_zh: tuple[str, ...] = ()

    @property
    def header_names(self) -> tuple[str, ...]:
        """Every header an input may give this column under: the name, its aliases, its Chinese names."""
        return (self.name, *self.aliases, self.label_zh, *self.headers_zh)


_BOTH = ("claims", "ledger")
_LEDGER = ("ledger",)

COLUMNS: tuple[Column, ...] = (
    Column("setl_id", Kind.KEY, _BOTH, "结算ID", headers_zh=("结算编号", "结算流水号")),
    Column("setl_time", Kind.TIME, _BOTH, "结算时间", headers_zh=("结算日期",)),
    Column("medfee_sumamt", Kind.MONEY, _BOTH, "医疗费总额"),
    Column("fund_pay_sumamt", Kind.MONEY, _BOTH, "基金支付总额"),
    Column("acct_pay", Kind.MONEY, _BOTH, "个人账户支出", headers_zh=("个人账户支付", "个账支出")),
    Column("insuplc_admdvs", Kind.REGION, _LEDGER, "参保地医保区划", ("insu_admdvs",)),
    Column("mdtrtarea_admvs", Kind.REGION, _LEDGER, "就医地医保区划", ("fix_blng_admdvs", "mdtrt_area_admvs")),
    Column("psn_cash_pay", Kind.MONEY, (), "现金支付金额", ("cash_payamt",), ("个人现金支出", "现金支付")),
    Column("hifp_pay", Kind.MONEY, (), "统筹基金支出", headers_zh=("基本医疗保险统筹基金支出",)),
    Column("cvlserv_pay", Kind.MONEY, (), "公务员医疗补助"),
    Column("hifob_pay", Kind.MONEY, (), "大额医疗补助"),
    Column("hifmi_pay", Kind.MONEY, (), "大病保险"),
    Column("hifes_pay", Kind.MONEY, (), "企业补充医疗保险"),
    Column("hifdm_pay", Kind.MONEY, (), "伤残人员医疗保障"),
    Column("maf_pay", Kind.MONEY, (), "医疗救助"),
    Column("oth_pay", Kind.MONEY, (), "其他支出", ("othfund_pay",)),
    Column("psn_no", Kind.CODE, (), "人员编号"),
    Column("mdtrt_id", Kind.CODE, (), "就诊ID", headers_zh=("就诊编号",)),
    Column("insutype", Kind.CODE, (), "险种类型"),
    Column("med_type", Kind.CODE, (), "医疗类别"),
    Column("clr_type", Kind.CODE, (), "清算类别"),
    Column("clr_way", Kind.CODE, (), "清算方式"),
    Column("fixmedins_code", Kind.CODE, (), "定点医药机构编号", headers_zh=("医药机构编号", "定点医疗机构编号")),
    Column("refd_setl_flag", Kind.CODE, (), "退费结算标志"),
    Column("certno", Kind.PERSONAL, (), "证件号码"),
    Column("psn_name", Kind.PERSONAL, (), "人员姓名", headers_zh=("姓名",)),
)

BY_NAME = {c.name: c for c in COLUMNS}
CANONICAL = tuple(c.name for c in COLUMNS)
MONEY_COLUMNS = tuple(c.name for c in COLUMNS if c.kind is Kind.MONEY)
REGION_COLUMNS = tuple(c.name for c in COLUMNS if c.kind is Kind.REGION)

# 分账: the fund accounts a settlement's fund payment is split into, in statement order.
FUND_BREAKDOWN = ("hifp_pay", "cvlserv_pay", "hifob_pay", "hifmi_pay", "hifes_pay", "hifdm_pay", "maf_pay", "oth_pay")
# What moves between regions is fund_pay_sumamt + acct_pay; its split by account, with the individual account
# and whatever part of the fund payment the breakdown columns leave unexplained, so the split always sums to clr_amt.
CLEARING_FUNDS = FUND_BREAKDOWN + ("acct_pay", "unallocated")
FUND_LABELS_ZH = {
    "hifp_pay": "统筹基金",
    "cvlserv_pay": "公务员医疗补助",
    "hifob_pay": "大额医疗补助",
    "hifmi_pay": "大病保险",
    "hifes_pay": "企业补充医疗保险",
    "hifdm_pay": "伤残人员医疗保障",
    "maf_pay": "医疗救助",
    "oth_pay": "其他基金",
    "acct_pay": "个人账户",
    "unallocated": "未分账基金",
}

# Attributes compared between the two sides of one settlement (contract §3 rule 4), in report order.
ATTR_COMPARED = (
    "insuplc_admdvs",
    "mdtrtarea_admvs",
    "psn_no",
    "mdtrt_id",
    "fixmedins_code",
    "insutype",
    "med_type",
    "clr_type",
    "refd_setl_flag",
)
MONEY_COMPARED = MONEY_COLUMNS


def required_columns(side: str) -> tuple[str, ...]:
    return tuple(c.name for c in COLUMNS if side in c.needed_by)


# --- Row rules (contract §2): a rejected row gets the first reason that applies, in this order. ---------------


@dataclass(frozen=True)
class Reason:
    code: str
    label_zh: str
    text: str


REJECT_REASONS: tuple[Reason, ...] = (
    Reason("missing_setl_id", "结算ID为空", "setl_id is null or empty"),
    Reason("bad_money", "金额无法精确到分", "a money value is not a number exact to the cent, or beyond ±10 billion"),
    Reason("missing_value", "必填字段为空", "a column this side needs is null"),
    Reason("bad_region_code", "区划代码不是6位数字", "a region code is not 6 digits after normalisation"),
    Reason("bad_setl_time", "结算时间无法识别", "setl_time cannot be read"),
    Reason("medfee_identity", "医疗费总额不等于基金+个账+现金", "medfee_sumamt != fund_pay_sumamt + acct_pay + psn_cash_pay"),
    Reason("fund_breakdown", "分账合计不等于基金支付总额", "the fund-breakdown columns do not sum to fund_pay_sumamt"),
)
REJECT_BY_CODE = {r.code: r for r in REJECT_REASONS}

# --- Reconciliation categories (contract §3), in precedence order after rejection. ---------------------------

CATEGORIES = (
    "rejected",
    "duplicate",
    "out_of_period",
    "claim_only",
    "ledger_only",
    "attr_mismatch",
    "amount_mismatch",
    "matched",
)
CATEGORY_LABELS_ZH = {
    "rejected": "校验不通过",
    "duplicate": "重复结算ID",
    "out_of_period": "不属本期",
    "claim_only": "医药机构多(单边账)",
    "ledger_only": "中心多(单边账)",
    "attr_mismatch": "属性不一致",
    "amount_mismatch": "金额不一致",
    "matched": "对平",
}
# The platform's detail-reconciliation result code (stmt_rslt) for each category; None where the platform has none.
STMT_RSLT = {
    "matched": "0",
    "ledger_only": "1",
    "claim_only": "2",
    "attr_mismatch": "3",
    "amount_mismatch": "3",
}

# Extra (non-contract) columns whose names say they hold personal data are masked: ID numbers, phones and
# addresses like certno (the platform's 就诊凭证编号 mdtrt_cert_no is often the ID number itself), names like
# psn_name. Names are matched in English, Chinese and the pinyin initials data centres use (zjhm 证件号码,
# sfz 身份证, xm 姓名, hzxm 患者姓名). Whatever a column is called, a text value that validates as a resident
# ID number is masked too (macro is_resident_id).
PERSONAL_EXTRA_PATTERNS = ("cert", "idcard", "id_card", "id_no", "idno", "sfzh", "sfz", "zjhm", "tel", "phone",
                           "mobile", "addr", "身份证", "证件号", "证件号码", "电话", "手机", "地址", "住址", "联系方式")
NAME_EXTRA_PATTERNS = ("psn_name", "patn_name", "patient_name", "psnname", "姓名", "名字", "患者姓名", "病人姓名")
NAME_EXTRA_TOKENS = ("xm", "hzxm", "brxm", "psnxm", "name_of_patient")


def is_personal_extra(name: str) -> bool:
    """An extra column that holds ID numbers, phones or addresses (masked like certno)."""
    lowered = name.lower()
    return any(p in lowered for p in PERSONAL_EXTRA_PATTERNS) and not is_name_extra(name)


def is_name_extra(name: str) -> bool:
    """An extra column that holds people's names (masked like psn_name)."""
    import re

    lowered = name.lower()
    tokens = [t for t in re.split(r"[^0-9a-z\u4e00-\u9fff]+", lowered) if t]
    return any(p in lowered for p in NAME_EXTRA_PATTERNS) or any(t in NAME_EXTRA_TOKENS for t in tokens)

# Columns only one side's extracts carry. A "claims" input holding agency-only columns (or a ledger holding the
# hospital's message ids) most likely means --claims and --ledger were swapped: warned about, never refused,
# since provinces add columns freely.
AGENCY_ONLY_COLUMNS = ("vali_flag", "clr_optins", "clr_stas", "clr_appy_evt_id")
HOSPITAL_ONLY_COLUMNS = ("medins_setl_id", "msgid")


# --- Words finance reads (Excel, printed statements): the platform's code tables (platform.md) and the -------
# reconciliation's reasons, in Chinese. Unknown codes (provinces extend every list) are shown as the code alone.
SIDE_SHORT_ZH = {"claims": "医药机构", "ledger": "经办机构"}
INSUTYPE_LABELS_ZH = {"310": "职工基本医疗保险", "320": "公务员医疗补助", "330": "大额医疗费用补助", "340": "离休人员医疗保障",
                      "390": "城乡居民基本医疗保险", "392": "城乡居民大病医疗保险", "510": "生育保险"}
CLR_TYPE_LABELS_ZH = {"11": "门诊", "21": "住院", "41": "药店购药", "99": "其他"}
MED_TYPE_LABELS_ZH = {"11": "普通门诊", "12": "门诊挂号", "13": "急诊", "14": "门诊慢特病", "21": "普通住院",
                      "22": "外伤住院", "23": "转外诊治住院", "24": "急诊转住院", "41": "定点药店购药", "51": "生育门诊",
                      "52": "生育住院"}
# reason codes of non-matched rows (reject reasons carry their own label in REJECT_REASONS)
REASON_LABELS_ZH = {"duplicate_setl_id": "结算ID重复", "outside_period": "不在本清算期间", "not_in_ledger": "经办机构无此结算ID",
                    "not_in_claims": "医药机构无此结算ID", "attributes_differ": "属性不一致", "amounts_differ": "金额不一致"}


def coded_label(code: str | None, labels: dict[str, str]) -> str | None:
    """'310' -> '310 职工基本医疗保险'; an unknown code stays as it is."""
    if code is None:
        return None
    name = labels.get(code)
    return f"{code} {name}" if name else code


def column_label_zh(name: str) -> str:
    """'medfee_sumamt' -> '医疗费总额(medfee_sumamt)': the Chinese name finance knows, the column name beside it."""
    column = BY_NAME.get(name)
    return f"{column.label_zh}({name})" if column else name
