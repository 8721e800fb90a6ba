"""Inputs that live where Spark reads them (hdfs://, s3a://, …): `clear` and `reconcile` with --engine spark
(issue 17).

When the loader's checks run on this machine (DuckDB: a local master, or spark.mediclear.load = driver), the
month's claims and ledger files given as such paths are first copied, byte for byte, through Spark's own Hadoop FileSystem client — with the session's
settings: the cluster's core-site.xml, s3a credentials from mediclear.toml's [spark] table — into the run's
scratch folder, and read from there as local files are. What names an input is its URI, never the copy:
messages, source_file in every output and the manifest (sources.FETCHED). The manifest's SHA-256 is the
copy's, which is the remote file's bytes; `verify` re-hashes a remote input through the same client (sha256).
When the month is loaded on Spark's executors, a remote Parquet file is not copied: Spark reads it where it
lies, this machine reads its footer alone (footer_stand_in) and hashes its bytes through the client.

A folder is every input file below it (Parquet, text, Excel, .zip, .gz by name; hidden files and Excel's ~$
lock files left out), as for a local folder; a pattern is Hadoop's glob (`*`, `?`, `[ab]`, `{a,b}`; no `**`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from mediclear_cli import errors
from mediclear_cli.errors import InputDataError, InputNotFound, MediclearError
from mediclear_cli.sources import FETCHED, IN_PLACE, REMOTE_SHA256, Tally, is_input_name


def is_remote(path: str) -> bool:
    """A path Spark reads and this machine may not (hdfs://, s3a://, ...); file:// is a local path, and so is
    anything that exists here (a folder named `claims:2026` is not a URI)."""
    text = str(path)
    scheme = urlparse(text).scheme
    return len(scheme) > 1 and scheme != "file" and text.startswith(f"{scheme}:/") and not Path(text).exists()


def _reason(exc: BaseException) -> str:
    """The first line a Java exception (through py4j) says: its class and message, without the stack."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text = str(java.toString())
        except Exception:  # noqa: BLE001 - the JVM may be gone; fall back to Python's text
            text = str(exc)
    else:
        text = str(exc)
    text = text.strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _said_in_a_line(missing: str, unreadable: str) -> Iterator[None]:
    """Hadoop's exceptions (through py4j) as mediclear's: a file not there is `missing` (66), anything else
    `unreadable` (65) with Hadoop's first line; a call cut short by Ctrl-C or SIGTERM is the interruption."""
    try:
        yield
        errors.check_stopped()
    except MediclearError:
        raise
    except Exception as exc:  # noqa: BLE001 - py4j's errors carry Hadoop's exception
        errors.check_stopped()
        if "FileNotFoundException" in _reason(exc):
            raise InputNotFound(missing) from None
        raise InputDataError(f"{unreadable} ({_reason(exc)})") from None


def _file_system(spark: Any, uri: str) -> tuple[Any, Any]:
    """(Hadoop FileSystem, Hadoop Path) of `uri`, with the session's Hadoop configuration."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


@dataclass(frozen=True)
class RemoteFile:
    uri: str  # as Hadoop qualifies it (hdfs://namenode:8020/data/…), what the run names the input
    name: str
    size: int


def list_files(spark: Any, given: str, what: str) -> list[RemoteFile]:
    """The files a remote path names: the file, every input file below a folder, or a glob's matches; sorted by
    URI. Nothing there: InputNotFound (66); a store that cannot be reached: InputDataError (65)."""
    with _said_in_a_line(f"{given}: {what} input not found", f"{given}: cannot be listed"):
        fs, path = _file_system(spark, given)
        matches = fs.globStatus(path)
        if matches is None or len(matches) == 0:
            kind = "pattern matches no file" if any(ch in given for ch in "*?[{") else "input not found"
            raise InputNotFound(f"{given}: {what} {kind}")
        found: dict[str, RemoteFile] = {}
        for status in matches:
            if status.isFile():
                found.setdefault(str(status.getPath().toString()),
                                 RemoteFile(str(status.getPath().toString()), str(status.getPath().getName()), int(status.getLen())))
                continue
            below = fs.listFiles(status.getPath(), True)
            while below.hasNext():
                errors.check_stopped()
                item = below.next()
                name = str(item.getPath().getName())
                if item.isFile() and is_input_name(name):
                    uri = str(item.getPath().toString())
                    found.setdefault(uri, RemoteFile(uri, name, int(item.getLen())))
    if not found:
        raise InputNotFound(f"{given}: no input files (Parquet, CSV, TXT, xlsx, zip) under this {what} directory")
    return [found[uri] for uri in sorted(found)]


def fetch(spark: Any, given: dict[str, list[str]], folder: Path,
          progress: Callable[..., None] | None = None, in_place: Callable[[str, str], bool] | None = None
          ) -> dict[str, list[str]]:
    """`given` (role -> paths) with every remote path replaced by the local copies of the files it names,
    copied into `folder`; local paths stay as they are. Each copy is registered in sources.FETCHED under
    its URI. A file `in_place(role, name)` says is read where it lies (a Parquet file, the month loaded on
    Spark's executors) is not copied: its stand-in holds the footer alone (footer_stand_in)."""
    if in_place is not None:
        REMOTE_SHA256.append(lambda uri: sha256(spark, uri))
    listed = {role: [(p, list_files(spark, p, role) if is_remote(p) else None) for p in paths]
              for role, paths in given.items()}
    total = sum(f.size for entries in listed.values() for _, files in entries for f in files or [])
    tally = Tally()
    if progress is not None:
        count = sum(len(files or []) for entries in listed.values() for _, files in entries)
        progress("fetching remote inputs", rows_total=total, unit="bytes", count=tally, files=count)
    local: dict[str, list[str]] = {}
    copies: dict[str, Path] = {}  # a file named twice (a folder and a file in it) is one file, copied once
    for role, entries in listed.items():
        local[role] = []
        for path, files in entries:
            if files is None:
                local[role].append(path)
                continue
            for remote in files:
                if remote.uri not in copies:
                    target = folder / f"{len(copies):05d}" / remote.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if in_place is not None and in_place(role, remote.name):
                        footer_stand_in(spark, remote, target)
                        IN_PLACE[target.resolve()] = remote.uri
                    else:
                        _copy(spark, remote, target)
                    tally.bytes += remote.size
                    FETCHED[target.resolve()] = remote.uri
                    copies[remote.uri] = target
                local[role].append(str(copies[remote.uri]))
    return local


def _copy(spark: Any, remote: RemoteFile, target: Path) -> None:
    with _said_in_a_line(f"{remote.uri}: input not found (gone while it was being read)", f"{remote.uri}: cannot be read"):
        fs, path = _file_system(spark, remote.uri)
        jvm = spark.sparkContext._jvm
        # the raw local file system: no .crc file beside the copy
        fs.copyToLocalFile(False, path, jvm.org.apache.hadoop.fs.Path(target.as_uri()), True)
    if target.stat().st_size != remote.size:
        raise InputDataError(f"{remote.uri}: {target.stat().st_size} bytes read of its {remote.size} (changed while "
                             "it was being read?)")


PARQUET_MAGIC = b"PAR1"


def footer_stand_in(spark: Any, remote: RemoteFile, target: Path) -> None:
    """A local stand-in for a remote Parquet file read where it lies: a sparse file of its size holding its
    magic number and, at their place, its footer and trailer — what pyarrow reads for the schema and the row
    counts — and zeros (no disk) where its rows are. Not Parquet: InputDataError (65) naming the URI."""
    with _said_in_a_line(f"{remote.uri}: input not found (gone while it was being read)", f"{remote.uri}: cannot be read"):
        fs, path = _file_system(spark, remote.uri)
        io_utils = spark.sparkContext._jvm.org.apache.commons.io.IOUtils
        stream = fs.open(path)
        try:
            if remote.size >= 12:
                stream.seek(remote.size - 8)
            trailer = bytes(io_utils.toByteArray(stream, 8)) if remote.size >= 12 else b""
            footer_size = int.from_bytes(trailer[:4], "little") if len(trailer) == 8 else -1
            if not trailer.endswith(PARQUET_MAGIC) or not 0 < footer_size <= remote.size - 12:
                raise InputDataError(f"{remote.uri}: cannot be read as Parquet (no Parquet footer at its end); text "
                                     "and Excel inputs are read by their extension (.csv, .txt, .tsv, .xlsx, .zip, .gz) or --format")
            stream.seek(remote.size - 8 - footer_size)
            footer = bytes(io_utils.toByteArray(stream, footer_size))
        finally:
            stream.close()
    with open(target, "wb") as handle:
        handle.write(PARQUET_MAGIC)
        handle.truncate(remote.size)
        handle.seek(remote.size - 8 - footer_size)
        handle.write(footer + trailer)


def sha256(spark: Any, uri: str) -> str | None:
    """The SHA-256 of a remote file's bytes, read through Hadoop's client in the JVM; None when it is not there."""
    with _said_in_a_line(f"{uri}: input not found", f"{uri}: cannot be read"):
        fs, path = _file_system(spark, uri)
        if not fs.exists(path):
            return None
        stream = fs.open(path)
        try:
            return str(spark.sparkContext._jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream))
        finally:
            stream.close()
