"""The platform's own verdict beside mediclear's: `reconcile --platform-result FILE` reads the 3202 result file
the national platform returns (TAB-separated, no header, often GB18030: psn_no, mdtrt_id, setl_id, msgid,
stmt_rslt, refd_setl_flag, memo, medfee_sumamt, fund_pay_sumamt, acct_pay; a file with a header naming
setl_id and stmt_rslt works too) and compares its stmt_rslt per setl_id with mediclear's.

Promise: every setl_id of either is in platform_compare.parquet once per result row, with both verdicts and,
where they disagree, why — the amounts the platform holds against the ledger's, or the columns mediclear found
different. Nothing is guessed: a setl_id one of them lacks is said to be missing, not counted as agreeing.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow.parquet as pq

from mediclear_cli import engine
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import InputDataError
from mediclear_cli.inputs import money_sql, normalise_text_sql, resolve_paths
from mediclear_cli.sources import ReadOptions, stage

NEEDED = ("setl_id", "stmt_rslt")
MONEY = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")



def compare_platform(con: duckdb.DuckDBPyConnection, path: str, read: ReadOptions) -> dict[str, Any]:
    """Load the result file as table platform_result and build platform_compare; returns the summary block."""
    files = resolve_paths([path], "platform result")
    tables = stage(files, engine.scratch_dir(con), ReadOptions(encoding=read.checked().encoding))
    selects = []
    for table in tables:
        types = {f.name: f.type for f in pq.read_schema(table.path)}
        names = {name.strip().lower(): name for name in types}
        missing = [c for c in NEEDED if c not in names]
        if missing:
            raise InputDataError(f"{table.origin}: no column {missing[0]!r}; expected the platform's 3202 result "
                                 "file (TAB-separated: psn_no, mdtrt_id, setl_id, msgid, stmt_rslt, …)")
        cols = [f"{normalise_text_sql(quote_ident(names['setl_id']))} AS setl_id",
                f"CAST({quote_ident(names['stmt_rslt'])} AS VARCHAR) AS stmt_rslt"]
        cols.append(f"CAST({quote_ident(names['memo'])} AS VARCHAR) AS memo" if "memo" in names
                    else "CAST(NULL AS VARCHAR) AS memo")
        # the platform's amounts by contract §1's rule for money: exact to the cent or NULL, never rounded
        cols += [f"{money_sql(names[c], types[names[c]], table.origin)} AS {c}" if c in names
                 else f"CAST(NULL AS DECIMAL(18,2)) AS {c}" for c in MONEY]
        selects.append(f"SELECT {', '.join(cols)}, file_row_number + 1 AS source_row "  # noqa: S608 - quoted
                       f"FROM read_parquet({quote_literal(str(table.path))}, file_row_number=true)")
    con.execute("CREATE OR REPLACE TEMP TABLE platform_result AS " + " UNION ALL ".join(selects))
    engine.run(con, "recon/platform_compare")
    counts = con.execute("SELECT count(*), count(*) FILTER (WHERE agree), "
                         "count(*) FILTER (WHERE platform_row IS NULL), "
                         "count(*) FILTER (WHERE mediclear_category IS NULL) FROM platform_compare").fetchall()[0]
    pairs = con.execute(
        "SELECT coalesce(platform_stmt_rslt, '-'), coalesce(mediclear_stmt_rslt, coalesce(mediclear_category, '-')), "
        "count(*) FROM platform_compare WHERE NOT agree GROUP BY ALL ORDER BY 3 DESC, 1, 2").fetchall()
    return {
        "file": [str(f) for f in files],
        "read_as": [t.describe() for t in tables],
        "setl_ids": int(counts[0]),
        "agree": int(counts[1]),
        "disagree": int(counts[0] - counts[1]),
        "not_in_result_file": int(counts[2]),
        "not_in_inputs": int(counts[3]),
        "disagreements": [{"platform": p, "mediclear": m, "records": int(n)} for p, m, n in pairs],
    }


COMPARE_SQL = ("SELECT * FROM platform_compare "
               "ORDER BY agree, setl_id NULLS FIRST, platform_row NULLS FIRST")
