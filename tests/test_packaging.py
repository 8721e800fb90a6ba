"""The installed package: SQL files ship inside it, and the core imports without Typer or Rich."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

from conftest import REPO


def test_installed_package_finds_its_sql_files():
    packaged = resources.files("mediclear_cli").joinpath("sql")
    assert packaged.is_dir(), "the SQL files must ship inside the package (mediclear_cli/sql)"
    def below(folder) -> list[str]:
        found = []
        for entry in folder.iterdir():
            if entry.is_dir():
                found += [f"{entry.name}/{name}" for name in below(entry)]
            elif entry.name.endswith(".sql"):
                found.append(entry.name)
        return sorted(found)

    shipped = below(packaged)
    in_repo = sorted(p.relative_to(REPO / "sql").as_posix() for p in (REPO / "sql").rglob("*.sql"))
    assert shipped == in_repo and len(shipped) >= 10


def test_every_sql_file_starts_with_a_header_saying_what_it_binds():
    for path in sorted((REPO / "sql").rglob("*.sql")):
        name = path.relative_to(REPO / "sql").with_suffix("").as_posix()  # what engine.run / query are given
        head = path.read_text(encoding="utf-8").splitlines()[:6]
        assert head[0].startswith(f"-- {name}:"), name
        assert any("Binds:" in line for line in head), path.name


def test_core_imports_without_typer_or_rich():
    code = (
        "import sys; import mediclear_cli.jobs, mediclear_cli.sample, mediclear_cli.validation; "
        "bad = [m for m in ('typer', 'rich') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path("/"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "mediclear_cli", "--version"], capture_output=True, text=True,
                          cwd=Path("/"))
    assert done.returncode == 0 and done.stdout.startswith("mediclear ")


def test_reconciliation_compares_exactly_the_columns_the_schema_names():
    """The compared columns are declared once in schema.py; the SQL that compares them must agree."""
    import re

    from mediclear_cli import schema

    text = (REPO / "sql" / "recon" / "pairs.sql").read_text(encoding="utf-8")
    compared = re.findall(r"THEN '([a-z_]+)' END", text)
    assert compared == list(schema.ATTR_COMPARED) + list(schema.MONEY_COMPARED)
