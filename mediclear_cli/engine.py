"""The DuckDB connection and the named SQL files it runs.

SQL lives in `sql/*.sql` (shipped inside the wheel as `mediclear_cli/sql`), one statement per file with a
header saying what it computes, what it binds and which invariant it keeps. Values are always bound as
`$name` parameters. Identifiers that come from inputs go through `quote_ident`; file paths through
`quote_literal` — the only two places text is spliced into SQL.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

# Settings a user may override through the environment (and later the config file).
DEFAULT_MEMORY_LIMIT = os.environ.get("MEDICLEAR_MEMORY_LIMIT", "")
DEFAULT_TEMP_DIR = os.environ.get("MEDICLEAR_TEMP_DIR", "")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a column or table name), whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal (used for file paths in table functions)."""
    return "'" + text.replace("'", "''") + "'"


def _sql_dir() -> Any:
    packaged = resources.files("mediclear_cli").joinpath("sql")
    if packaged.is_dir():
        return packaged
    # A source checkout that was not installed: sql/ sits beside the package.
    return Path(__file__).resolve().parent.parent / "sql"


@lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return _sql_dir().joinpath(f"{name}.sql").read_text(encoding="utf-8")


def sql_names() -> list[str]:
    return sorted(p.name[:-4] for p in _sql_dir().iterdir() if p.name.endswith(".sql"))


def connect(memory_limit: str = "", temp_directory: str = "", threads: int = 0) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection for one run.

    `preserve_insertion_order` stays on so that ORDER BY results stream out in order; every output is
    ordered explicitly anyway, so results never depend on thread scheduling.
    """
    con = duckdb.connect(":memory:")
    limit = memory_limit or DEFAULT_MEMORY_LIMIT
    if limit:
        con.execute("SET memory_limit = $v", {"v": limit})
    tmp = temp_directory or DEFAULT_TEMP_DIR
    if tmp:
        con.execute("SET temp_directory = $v", {"v": tmp})
    if threads:
        con.execute("SET threads = $v", {"v": threads})
    return con


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run the named SQL file (a statement, or a query read with fetchall) with its parameters bound."""
    return con.execute(load_sql(name), params or None)


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyRelation:
    """The named SQL file's query as a relation, for Arrow output without an extra copy."""
    return con.sql(load_sql(name), params=params or None)
