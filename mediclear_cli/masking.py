"""How a column's values may appear in any output (SECURITY.md): the one rule every writer that shows a
column of the input applies — exceptions.parquet's extra columns, packed extras, and `diff`'s keys, cells and
one-sided rows. The SQL macros it uses (mask_id, mask_name, is_resident_id, mask_text) are sql/macros.sql.
"""

from __future__ import annotations

from mediclear_cli import schema


def masked(expr: str, column: str, kind: str | None) -> str:
    """SQL for `expr` (the values of `column`) as an output may show them:
    - by name: an ID number, phone or address column (certno, 证件号码, zjhm, …) keeps its last 4 characters,
      a name column (psn_name, 姓名, xm, …) its first;
    - by value, for `kind` 'text': a value that validates as a resident ID number is masked like certno, other
      text has every ID-shaped token masked, and a value of digits only (an id, a code) stays as it is;
    - `kind` 'nested' (struct, list, map) is written as text with its ID-shaped tokens masked;
    - `kind` None (numbers, dates) is kept as it is."""
    lowered = column.lower()
    v = f"CAST({expr} AS VARCHAR)"
    if lowered == "psn_name" or schema.is_name_extra(column):
        return f"mask_name({v})"
    if lowered == "certno" or schema.is_personal_extra(column):
        return f"mask_id({v})"
    if kind == "text":
        return (f"CASE WHEN is_resident_id({v}) THEN mask_id({v}) WHEN regexp_full_match({v}, '[0-9]+') THEN {v} "
                f"ELSE mask_text({v}) END")
    if kind == "nested":
        return f"mask_text({v})"
    return expr
