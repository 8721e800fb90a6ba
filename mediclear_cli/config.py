"""mediclear.toml: the options of `clear`, the workspace and paths, so that a crontab line stays short.

    workspace = "/srv/mediclear/ws"        # used by clear, runs, show, held, close, reopen, writeoff
    log_format = "json"                    # text | json
    [clear]                                # any option of `mediclear clear`, spelt with _ or -
    claims = ["/data/extracts/{period}/claims"]
    ledger = ["/data/ledger/{period}"]
    regions = "/data/regions.parquet"
    level = "province"
    memory_limit = "4GB"
    engine = "duckdb"                      # or spark (pip install 'mediclear[spark]'); spark_master = "..."
    encoding = "gb18030"                   # text inputs; also format, sheet, claims_format
    map = ["JSID=setl_id"]                 # --map: a column the header tables do not know

    [spark]                                # spark.* settings for --engine spark (spark.master too)
    master = "yarn"
    sql.shuffle.partitions = 400

Relative paths in the file (workspace, claims, ledger, out, regions, prepaid, temp_dir) are relative to the
folder that holds the file, not to the working directory: a cron job started anywhere finds the same files and
the same workspace.

`{period}` (YYYY-MM) and `{yyyymm}` in claims, ledger, out, regions and prepaid are replaced by the month
being cleared, so `mediclear clear --period previous` finds last month's files. Options given on the command
line win over the file. The file is found through --config, else $MEDICLEAR_CONFIG, else ./mediclear.toml.
Unknown keys are an error (exit 78): a misspelt option must not be silently ignored by a cron job.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediclear_cli.errors import ConfigError
from mediclear_cli.periods import Period

LIST_KEYS = {"claims", "ledger", "maps"}
PATH_KEYS = {"claims", "ledger", "out", "regions", "prepaid", "temp_dir", "workspace", "sign", "policy"}
WORKSPACE_COMMANDS = ("runs", "show", "held", "close", "reopen", "writeoff", "void")
TOP_KEYS = {"workspace", "log_format", "clear", "spark"}


@dataclass
class Settings:
    source: Path | None = None
    log_format: str | None = None
    default_map: dict[str, dict[str, Any]] = field(default_factory=dict)
    spark_conf: dict[str, str] = field(default_factory=dict)  # spark.* settings for --engine spark


def _find(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get("MEDICLEAR_CONFIG")
    if env:
        return Path(env)
    here = Path("mediclear.toml")
    return here if here.is_file() else None


# What each option of [clear] must be in the file, so a wrong type is a configuration error (78) naming the
# key, not a usage error from deep inside the command line parser.
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "claims": (list,), "ledger": (list,), "period": (str,), "out": (str,), "regions": (str,), "prepaid": (str,),
    "level": (str,), "settlement": (str,), "tolerance": (str, int, float), "memory_limit": (str,),
    "temp_dir": (str,), "excel_exceptions": (int,), "statements": (bool,), "lang": (str,), "pdf": (str,),
    "screen": (bool,), "readmit_days": (int,), "duplicate_window_hours": (int, float), "outlier_k": (int, float),
    "outlier_min_group": (int,), "workspace": (str,), "max_rejected": (str, int, float), "sign": (str,),
    "fmt": (str,), "encoding": (str,), "sheet": (str,), "maps": (list,), "claims_format": (str,), "policy": (str,),
    "engine": (str,), "spark_master": (str,),
}
# Keys of the file spelt as the option is (--format, --map), where the parameter's name differs.
KEY_ALIASES = {"format": "fmt", "map": "maps"}
CLEAR_KEYS = set(KEY_TYPES)  # every option of `clear` the file may set (--force never: it must not become a habit)
MAX_CONFIG_BYTES = 1 << 20  # a settings file is small; /dev/zero or a log file given by mistake is not read


def _read(path: Path) -> str:
    """The file's text: a regular file of at most 1 MiB (a device or a FIFO would hang the reader)."""
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found (or not a regular file)")
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than 1 MiB; not a mediclear.toml")
    return data.decode("utf-8")


def load_config(explicit: Path | None) -> Settings:
    path = _find(explicit)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(_read(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(TOP_KEYS))}")
    clear = data.get("clear", {})
    if not isinstance(clear, dict):
        raise ConfigError(f"{path}: [clear] must be a table of options")
    base = path.resolve().parent
    options: dict[str, Any] = {}
    for key, value in clear.items():
        name = key.replace("-", "_")
        name = KEY_ALIASES.get(name, name)
        if name not in CLEAR_KEYS:
            raise ConfigError(f"{path}: [clear] {key}: not an option of mediclear clear")
        if name in LIST_KEYS and isinstance(value, str):
            value = [value]
        expected = KEY_TYPES.get(name, (str,))
        wrong = not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value))
        if wrong:
            names = {list: "a list of paths", str: "text", int: "a whole number", float: "a number", bool: "true or false"}
            raise ConfigError(f"{path}: [clear] {key} = {value!r}: expected {' or '.join(names[t] for t in expected)}")
        if name in ("tolerance", "max_rejected") and not isinstance(value, str):
            value = str(value)
        if name in PATH_KEYS:
            value = _relative_to(base, value, path, f"[clear] {key}")
        options[name] = value
    workspace = data.get("workspace")
    if workspace is not None and not isinstance(workspace, str):
        raise ConfigError(f"{path}: workspace must be a path (text)")
    if workspace:
        workspace = _relative_to(base, workspace, path, "workspace")
    log_format = data.get("log_format")
    if log_format is not None and log_format not in ("text", "json"):
        raise ConfigError(f"{path}: log_format must be text or json")
    if workspace:
        options.setdefault("workspace", workspace)
    default_map = {"clear": options}
    for command in WORKSPACE_COMMANDS:
        if workspace:
            default_map[command] = {"workspace": workspace}
    return Settings(path, log_format, default_map, _spark_conf(path, data.get("spark", {})))


def _spark_conf(path: Path, table: Any, prefix: str = "spark") -> dict[str, str]:
    """The file's spark.* settings (`spark.master = "yarn"`, `spark.sql.shuffle.partitions = 400`, or a
    [spark] table) as Spark's dotted keys and text values, for --engine spark."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {prefix} must be a table of Spark settings (spark.master = \"...\")")
    conf: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if name.startswith("spark.spark."):  # "spark.x" inside [spark]: Spark would never see the setting
            raise ConfigError(f"{path}: {name}: inside [spark] a setting is written without its spark. "
                              f"({name.removeprefix('spark.spark.')} = ...)")
        if isinstance(value, dict):
            conf |= _spark_conf(path, value, name)
        elif isinstance(value, bool):
            conf[name] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            conf[name] = str(value)
        else:
            raise ConfigError(f"{path}: {name} = {value!r}: expected text, a number or true/false")
    return conf


def _relative_to(base: Path, value: Any, source: Path, key: str) -> Any:
    """A path (or list of paths) from the file, made absolute against the file's own folder."""
    if isinstance(value, list):
        return [_relative_to(base, v, source, key) for v in value]
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a path (text)")
    if not value:
        return value
    expanded = os.path.expanduser(value)
    return expanded if os.path.isabs(expanded) else str(base / expanded)


def fill_period(paths: list[str], period: Period) -> list[str]:
    """Replace {period} and {yyyymm} in paths by the month being cleared."""
    return [p.replace("{period}", period.label).replace("{yyyymm}", f"{period.year:04d}{period.month:02d}")
            for p in paths]
