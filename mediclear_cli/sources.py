"""Inputs as they arrive: delimited text (CSV, TAB, pipe; plain, .gz or inside .zip), Excel .xlsx and the
platform's 3202 detail file, each staged as a Parquet file of text columns that the Parquet path then reads,
normalises and validates like any other input.

Promises:
- Text is read as text. Every value reaches the loader as the characters the file holds (ids keep their
  leading zeros, money is parsed exactly by contract §1 later, never through a float). An Excel number is a
  double in the file; it is written out as the shortest text that reads back as that double, and in a money
  column snapped to the cent when it lies within a thousandth of a cent of it (the rule for float Parquet).
- Encodings: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), GB18030 and its subsets
  GBK and GB2312. `auto` looks for a BOM, then tries strict UTF-8 over the whole file, then GB18030. Invalid
  bytes are an error naming file, line and byte offset (exit 65); nothing is ever replaced silently.
- A file that cannot be read as a table — a ragged row, an unclosed quote, a byte-order mark in the middle
  (two files pasted together), a header and no rows — is an error naming the file and line (exit 65).
  Messages never echo a row's content: it may hold personal data.
- Row numbers are the file's data rows counted from 1 (the header is not a row), as for Parquet; the staged
  copy keeps the file's order, so `source_row` n is the n-th data row of the file the user has.

The staged copies live in the run's private scratch folder and go with it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, cast

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mediclear_cli import schema
from mediclear_cli.errors import InputDataError, UsageError

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ARCHIVE_SUFFIXES = (".zip", ".gz")
INPUT_SUFFIXES = PARQUET_SUFFIXES + TEXT_SUFFIXES + EXCEL_SUFFIXES + ARCHIVE_SUFFIXES

# Inputs copied from a remote store into a run's scratch folder (remote.fetch): the copy's resolved path ->
# the URI it was read from, which names the input wherever the copy would (messages, source_file, the
# manifest). A copy's path is unique to its run, so an entry never names another run's file.
FETCHED: dict[Path, str] = {}
# Of those, the remote Parquet files left where they lie (the month loaded on Spark's executors, which read
# them there): the local file holds the remote file's footer alone at its place, for the schema and the row
# counts, and no row — nothing on this machine may read it as data (inputs.load_tables refuses). Its bytes'
# SHA-256 is computed where they lie by REMOTE_SHA256 (remote.sha256 with the run's Spark session).
IN_PLACE: dict[Path, str] = {}
REMOTE_SHA256: list[Callable[[str], str | None]] = []


def sha256_of(path: Path) -> str:
    """The SHA-256 of an input's bytes: read here, or where they lie for a file left in place (IN_PLACE)."""
    from mediclear_cli.writers import sha256_file

    uri = IN_PLACE.get(path.resolve()) if IN_PLACE else None
    if uri is None:
        return sha256_file(path)
    digest = REMOTE_SHA256[-1](uri) if REMOTE_SHA256 else None
    if digest is None:
        raise InputDataError(f"{uri}: gone while the run read it")
    return digest


def is_input_name(name: str) -> bool:
    """Whether a file found in an input folder is read: an input by its name (Parquet, text, Excel, .zip, .gz),
    not hidden and not Excel's ~$ lock file (a local folder and a remote one alike)."""
    return name.lower().endswith(INPUT_SUFFIXES) and not name.startswith((".", "~$"))


def origin_of(path: Path) -> str:
    """What names an input file: its path, or the URI it was fetched from."""
    return FETCHED.get(path.resolve(), str(path)) if FETCHED else str(path)


FORMATS = ("auto", "parquet", "csv", "tsv", "txt", "xlsx", "3202")
ENCODING_NAMES = {"auto": "auto", "utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "gb18030": "gb18030",
                  "gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf-16": "utf-16"}
# The platform's 3202 detail file (platform.md): no header, TAB-separated, one settlement per line.
PLATFORM_3202 = ("setl_id", "mdtrt_id", "psn_no", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "refd_setl_flag")
# The platform's 3202 result file: its verdict (stmt_rslt) per settlement.
PLATFORM_3202_RESULT = ("psn_no", "mdtrt_id", "setl_id", "msgid", "stmt_rslt", "refd_setl_flag", "memo",
                        "medfee_sumamt", "fund_pay_sumamt", "acct_pay")
CHUNK = 1 << 22
ROW_GROUP_ROWS = 1_000_000
_FLOAT_CENT_SLACK = 0.001  # as inputs._FLOAT_CENT_SLACK, in cents: how near the cent grid an Excel number must be


@dataclass(frozen=True)
class ReadOptions:
    """How to read inputs that are not Parquet (all defaults detect)."""

    format: str = "auto"  # auto | parquet | csv | tsv | txt | xlsx | 3202
    encoding: str = "auto"  # auto | utf-8 | gb18030 (gbk and gb2312 read as gb18030) | utf-16
    sheet: str | None = None  # an .xlsx sheet by name or 1-based number (default: every sheet with a header)
    maps: tuple[tuple[str, str], ...] = ()  # (the file's column, the contract's name): --map COL=NAME
    claims_format: str | None = None  # "3202": the claims are the platform's 3202 detail files

    def checked(self) -> ReadOptions:
        if self.format not in FORMATS:
            raise UsageError(f"--format {self.format!r}: expected one of {', '.join(FORMATS)}")
        encoding = ENCODING_NAMES.get(self.encoding.strip().lower())
        if encoding is None:
            raise UsageError(f"--encoding {self.encoding!r}: expected auto, utf-8, gb18030 (or gbk, gb2312), utf-16")
        if self.claims_format not in (None, "", "auto", "3202"):
            raise UsageError(f"--claims-format {self.claims_format!r}: expected 3202")
        for source, target in self.maps:
            if target not in schema.BY_NAME:
                raise UsageError(f"--map {source}={target}: {target!r} is not a column of the contract "
                                 f"({', '.join(schema.CANONICAL)})")
        return replace(self, encoding=encoding)

    def describe(self) -> dict[str, Any]:
        """The options that differ from the defaults (for the manifest and the run id)."""
        info: dict[str, Any] = {}
        for name, default in (("format", "auto"), ("encoding", "auto"), ("sheet", None), ("claims_format", None)):
            if getattr(self, name) not in (default, ""):
                info[name] = getattr(self, name)
        if self.maps:
            info["map"] = [f"{source}={target}" for source, target in self.maps]
        return info

    def for_side(self, side: str) -> ReadOptions:
        return replace(self, format="3202") if side == "claims" and self.claims_format == "3202" else self


def parse_maps(values: list[str]) -> tuple[tuple[str, str], ...]:
    """`--map 'COL=contract_name'` (repeatable) as pairs; the column may be any header the file has."""
    pairs = []
    for value in values:
        source, sep, target = value.rpartition("=")
        if not sep or not source.strip() or not target.strip():
            raise UsageError(f"--map {value!r}: expected COLUMN=contract_name, e.g. --map 'JSID=setl_id'")
        pairs.append((source.strip(), target.strip()))
    return tuple(pairs)


@dataclass
class Staged:
    """One table of an input as the loader reads it: `path` is Parquet (the input itself, or its staged copy);
    `origin` is what messages and source_file name (the file, or archive.zip!member, or book.xlsx!sheet)."""

    origin: str
    path: Path
    format: str = "parquet"
    encoding: str | None = None
    delimiter: str | None = None
    rows: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the manifest says about how this input was read."""
        info: dict[str, Any] = {"table": self.origin, "format": self.format}
        if self.encoding:
            info["encoding"] = self.encoding
        if self.delimiter:
            info["delimiter"] = {"\t": "TAB", ",": "comma", "|": "pipe", ";": "semicolon"}.get(self.delimiter, self.delimiter)
        return info | self.details


def is_parquet(path: Path, read: ReadOptions) -> bool:
    if read.format == "parquet":
        return True
    if read.format != "auto":
        return False
    name = path.name.lower()
    return not (name.endswith(TEXT_SUFFIXES + EXCEL_SUFFIXES + ARCHIVE_SUFFIXES))


@dataclass
class Tally:
    """How far staging is, for a progress display polling it from another thread: bytes decoded, rows parsed."""

    bytes: int = 0
    rows: int = 0


def stage(files: list[Path], scratch: Path, read: ReadOptions, tally: Tally | None = None) -> list[Staged]:
    """Every input file as one or more Parquet tables (an archive or a workbook may hold several)."""
    staged: list[Staged] = []
    tally = tally or Tally()
    for path in files:
        if is_parquet(path, read):
            staged.append(Staged(origin_of(path), path))
            continue
        for origin, kind, opener in _members(path, read):
            target = scratch / f"staged-{len(staged):05d}.parquet"
            if kind == "xlsx":
                staged.extend(_stage_workbook(origin, opener, target, read))
            else:
                staged.append(_stage_text(origin, kind, opener, target, read, tally))
    return staged


def _inner_kind(name: str, read: ReadOptions) -> str | None:
    """The format of a file by its name (after .gz is taken off), or the one given; None: not an input."""
    if read.format not in ("auto", "parquet"):
        return read.format
    lowered = name.lower()
    for suffixes, kind in ((EXCEL_SUFFIXES, "xlsx"), ((".csv",), "csv"), ((".tsv",), "tsv"), ((".txt",), "txt")):
        if lowered.endswith(suffixes):
            return kind
    return None


Opener = Callable[[], IO[bytes]]


def _members(path: Path, read: ReadOptions) -> Iterator[tuple[str, str, Opener]]:
    """(origin, format, a way to open its bytes) for each table a file holds."""
    lowered = path.name.lower()
    named = origin_of(path)
    if lowered.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise InputDataError(f"{named}: cannot be read as a zip archive ({exc})") from None
        with archive:
            infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                     and not Path(i.filename).name.startswith(".")]
        found = False
        for info in infos:
            name = info.filename
            if not info.flag_bits & 0x800:  # not marked UTF-8: Chinese tools write GBK names (cp437 as read)
                try:
                    name = name.encode("cp437").decode("gb18030")
                except (UnicodeEncodeError, UnicodeDecodeError):
                    pass
            kind = _inner_kind(name, read) or ("txt" if read.format == "auto" else None)
            if kind is None or kind == "parquet":
                continue
            found = True
            yield f"{named}!{name}", kind, _zip_opener(path, info.filename)
        if not found:
            raise InputDataError(f"{named}: the zip archive holds no file to read")
        return
    if lowered.endswith(".gz"):
        kind = _inner_kind(path.name[:-3], read) or "txt"
        yield named, kind, lambda: cast(IO[bytes], gzip.open(path, "rb"))
        return
    kind = _inner_kind(path.name, read) or "txt"
    yield named, kind, lambda: open(path, "rb")


def _zip_opener(path: Path, member: str) -> Opener:
    def opener() -> IO[bytes]:
        archive = zipfile.ZipFile(path)
        handle = archive.open(member)
        handle_close = handle.close

        def close() -> None:
            handle_close()
            archive.close()

        handle.close = close  # type: ignore[method-assign]
        return handle
    return opener


# --- delimited text -------------------------------------------------------------------------------------------


def _line_at(opener: Opener, offset: int) -> int:
    """The 1-based line that byte `offset` of the stream lies on."""
    lines = 1
    seen = 0
    with opener() as handle:
        while seen < offset:
            chunk = handle.read(min(CHUNK, offset - seen))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            seen += len(chunk)
    return lines


class _Census:
    """What the decoded text holds: characters of two UTF-8 bytes (Latin, Greek, Cyrillic …) and CJK ones."""

    def __init__(self) -> None:
        self.two_byte = 0
        self.cjk = 0

    def count(self, text: str) -> None:
        if text.isascii():
            return
        self.two_byte += sum(1 for ch in text if "\u0080" <= ch <= "\u07ff")
        self.cjk += sum(1 for ch in text if "\u3000" <= ch <= "\u9fff")

    def looks_misread(self) -> bool:
        """UTF-8 that holds accented Latin and not one Chinese character, in a Chinese settlement extract, is
        far more likely GB18030 bytes that happen to be valid UTF-8 (钱 is C7 AE, which UTF-8 reads as Ǯ)."""
        return self.two_byte > 0 and self.cjk == 0


def _check_decode(opener: Opener, encoding: str, sink: IO[str] | None,
                  census: _Census | None = None, tally: Tally | None = None) -> tuple[int, int] | None:
    """Decode the whole stream strictly (writing UTF-8 text to `sink` when given): None when it decodes, else
    (byte offset, line) of the first invalid byte. A byte-order mark after the start is an error here too."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    consumed = 0
    first = True
    with opener() as handle:
        while True:
            chunk = handle.read(CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                offset = consumed - pending + exc.start
                return offset, _line_at(opener, offset)
            if first and text.startswith("\ufeff"):
                text = text[1:]
            first = False
            stray = text.find("\ufeff")
            if stray >= 0:
                raise _StrayBom()
            if sink is not None and text:
                sink.write(text)
            if census is not None:
                census.count(text)
            consumed += len(chunk)
            if tally is not None:
                tally.bytes += len(chunk)
            if not chunk:
                return None


class _StrayBom(Exception):
    """A byte-order mark after the start of a stream (where it is, _stray_bom_line finds)."""


def _bom(opener: Opener) -> str | None:
    with opener() as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _to_utf8(origin: str, opener: Opener, target: Path, read: ReadOptions, plain_file: Path | None,
             tally: Tally) -> tuple[Path, str]:
    """The stream as UTF-8 text on disk (the file itself when it already is one, else a transcoded copy) and
    the encoding it was read in. Invalid bytes: exit 65 with file, line and byte offset."""
    bom = _bom(opener)
    tried: list[tuple[str, tuple[int, int]]] = []
    candidates = [read.encoding] if read.encoding != "auto" else ([bom] if bom else ["utf-8", "gb18030"])
    for encoding in candidates:
        direct = encoding == "utf-8" and plain_file is not None
        census = _Census() if read.encoding == "auto" and encoding == "utf-8" and not bom else None
        try:
            if direct:
                failure = _check_decode(opener, "utf-8", None, census, tally)
            else:
                with open(target, "w", encoding="utf-8", newline="") as sink:
                    failure = _check_decode(opener, encoding, sink, census, tally)
            if failure is None and census is not None and census.looks_misread():
                with open(target, "w", encoding="utf-8", newline="") as sink:
                    if _check_decode(opener, "gb18030", sink) is None:
                        return target, "gb18030"
        except _StrayBom:
            line = _stray_bom_line(opener, encoding)
            raise InputDataError(f"{origin}: line {line}: a byte-order mark in the middle of the file — two "
                                 "exports pasted together? Split them, or remove the second header") from None
        if failure is None:
            return (plain_file if direct and plain_file is not None else target), encoding
        tried.append((encoding, failure))
    described = "; ".join(f"not {name.upper()}: invalid bytes at line {line}, byte offset {offset}"
                          for name, (offset, line) in tried)
    raise InputDataError(f"{origin}: {described} (give --encoding if the file uses another encoding)")


def _stray_bom_line(opener: Opener, encoding: str) -> int:
    with opener() as handle:
        reader = codecs.getreader(encoding)(handle, "strict")
        for number, line in enumerate(reader, start=1):
            if "\ufeff" in (line[1:] if number == 1 else line):
                return number
    return 0


def _sniff_delimiter(header: str, kind: str) -> str:
    """TAB for .tsv and 3202; otherwise whichever of TAB, pipe, comma and semicolon the header line holds most
    (a ".csv" that is TAB-separated is common), comma for a .csv naming one column, else TAB."""
    if kind in ("tsv", "3202"):
        return "\t"
    counts = {d: header.count(d) for d in ("\t", "|", ",", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ("," if kind == "csv" else "\t")


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return handle.readline()


def _stage_text(origin: str, kind: str, opener: Opener, target: Path, read: ReadOptions, tally: Tally) -> Staged:
    plain_file = Path(origin) if Path(origin).is_file() and not origin.lower().endswith(ARCHIVE_SUFFIXES) else None
    utf8, encoding = _to_utf8(origin, opener, target.with_suffix(".txt"), read, plain_file, tally)
    first = _first_line(utf8)
    if not first.strip():
        raise InputDataError(f"{origin}: line 1: empty; expected a header row naming the columns")
    headerless = kind == "3202" or (read.format == "auto" and _looks_like_3202(first))
    delimiter = _sniff_delimiter(first, "3202" if headerless else kind)
    if headerless:
        fields = next(csv.reader([first], delimiter=delimiter))
        if len(fields) not in (len(PLATFORM_3202), len(PLATFORM_3202_RESULT)):
            raise InputDataError(f"{origin}: line 1: {len(fields)} fields; a 3202 detail file has "
                                 f"{len(PLATFORM_3202)} (setl_id … refd_setl_flag)")
        names = list(PLATFORM_3202 if len(fields) == len(PLATFORM_3202) else PLATFORM_3202_RESULT)
        skip = 0
    else:
        names = _header(origin, first, delimiter)
        skip = 1
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert = pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)
    options = pa_csv.ReadOptions(column_names=names, skip_rows=skip, block_size=1 << 24)
    rows = 0
    schema_out = pa.schema([pa.field(n, pa.string()) for n in names])
    try:
        reader = pa_csv.open_csv(utf8, read_options=options, parse_options=parse, convert_options=convert)
        with pq.ParquetWriter(target, schema_out, compression="lz4") as writer:
            for batch in reader:
                writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
                rows += batch.num_rows
                tally.rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise InputDataError(f"{origin}: {_locate_problem(utf8, delimiter, len(names), skip) or _arrow_reason(exc)}") from None
    if rows == 0:
        raise InputDataError(f"{origin}: line 1 is a header and no settlement follows it (an empty extract?)")
    if utf8 != plain_file:
        utf8.unlink(missing_ok=True)
    fmt = "3202" if headerless else kind
    return Staged(origin, target, fmt, encoding, delimiter, rows)


def _looks_like_3202(first: str) -> bool:
    """A line of 7 or 10 TAB-separated fields none of which names a column, with money where 3202 has it."""
    fields = first.rstrip("\r\n").split("\t")
    if len(fields) not in (len(PLATFORM_3202), len(PLATFORM_3202_RESULT)):
        return False
    known = {h.lower() for c in schema.COLUMNS for h in c.header_names}
    if any(f.strip().lower() in known for f in fields):
        return False
    money = fields[3:6] if len(fields) == len(PLATFORM_3202) else fields[7:10]
    import re

    return all(re.fullmatch(schema.MONEY_TEXT_PATTERN, m.strip()) for m in money)


def _header(origin: str, line: str, delimiter: str) -> list[str]:
    return _column_names(origin, next(csv.reader([line], delimiter=delimiter)))


def _column_names(origin: str, cells: list[str]) -> list[str]:
    """A header's names, trimmed; an empty or repeated name is exit 65 naming its column."""
    names = [n.strip().strip("\ufeff") for n in cells]
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise InputDataError(f"{origin}: line 1: column {number} has no name in the header")
        if name.lower() in seen:
            raise InputDataError(f"{origin}: line 1: column {name!r} appears twice in the header "
                                 f"(columns {seen[name.lower()]} and {number})")
        seen[name.lower()] = number
    return names


def _arrow_reason(exc: BaseException) -> str:
    """pyarrow's parse error without the row it quotes (which may hold personal data): "CSV parse error:
    Expected 3 columns, got 2: <row>" keeps "Expected 3 columns, got 2"."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0].removeprefix("CSV parse error: ")
    return "cannot be read as delimited text (" + text.split(":")[0] + ")"


def _locate_problem(utf8: Path, delimiter: str, fields: int, skip: int) -> str | None:
    """Where the file stops being a table: the first record with another number of fields, or a quote never
    closed, as 'line N: …' (N counts lines as an editor does)."""
    with open(utf8, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        start = 1
        try:
            for record in reader:
                if reader.line_num > skip and record and len(record) != fields:
                    return f"line {start}: {len(record)} fields where the header has {fields} (a ragged row)"
                start = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) or "EOF" in str(exc):
                return f"line {start}: a quoted field is opened and never closed"
            return f"line {start}: not valid delimited text ({str(exc).split(':')[0]})"
    return None


# --- Excel ------------------------------------------------------------------------------------------------------


def _cell_text(value: Any, money: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        if money and abs(value * 100 - round(value * 100)) < _FLOAT_CENT_SLACK:
            return str(Decimal(repr(round(value, 2))).quantize(Decimal("0.01")))
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d 00:00:00")
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _stage_workbook(origin: str, opener: Opener, target: Path, read: ReadOptions) -> list[Staged]:
    import openpyxl

    try:
        if Path(origin).is_file():
            book = openpyxl.load_workbook(origin, read_only=True, data_only=True)
        else:  # a member of a zip: openpyxl needs to seek
            with opener() as handle:
                book = openpyxl.load_workbook(io.BytesIO(handle.read()), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
        raise InputDataError(f"{origin}: cannot be read as an Excel workbook ({type(exc).__name__})") from None
    try:
        sheets = list(book.worksheets)
        if read.sheet:
            chosen = [s for s in sheets if s.title == read.sheet]
            if not chosen and read.sheet.isdigit() and 1 <= int(read.sheet) <= len(sheets):
                chosen = [sheets[int(read.sheet) - 1]]
            if not chosen:
                raise UsageError(f"{origin}: no sheet {read.sheet!r} (sheets: {', '.join(s.title for s in sheets)})")
            sheets = chosen
        staged = []
        for number, sheet in enumerate(sheets):
            path = target.with_name(f"{target.stem}-{number}.parquet")
            rows = _stage_sheet(f"{origin}!{sheet.title}", sheet, read, path)
            if rows is not None:
                staged.append(Staged(f"{origin}!{sheet.title}", path, "xlsx", None, None, rows, {"sheet": sheet.title}))
    finally:
        book.close()
    if not staged:
        raise InputDataError(f"{origin}: no sheet has a header row")
    return staged


SHEET_BATCH_ROWS = 50_000  # rows of a sheet held as Python values at once (a sheet may hold 1,048,575)


def _stage_sheet(origin: str, sheet: Any, read: ReadOptions, path: Path) -> int | None:
    """A sheet's rows as Parquet of text at `path`, streamed in batches; None when it has no header row."""
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None or all(v is None or str(v).strip() == "" for v in header):
        return None
    while header and header[-1] is None:
        header = header[:-1]
    names = _column_names(origin, ["" if v is None else str(v) for v in header])
    money = _money_sources(names, read)
    width = len(names)
    out_schema = pa.schema([pa.field(n, pa.string()) for n in names])
    written = 0
    columns: list[list[str | None]] = [[] for _ in names]

    def flush(writer: pq.ParquetWriter) -> None:
        nonlocal columns
        writer.write_table(pa.table([pa.array(c, pa.string()) for c in columns], schema=out_schema))
        columns = [[] for _ in names]

    with pq.ParquetWriter(path, out_schema, compression="lz4") as writer:
        for number, row in enumerate(rows, start=2):
            if row is None or all(v is None for v in row):
                continue
            if len(row) > width and any(v is not None for v in row[width:]):
                raise InputDataError(f"{origin}: row {number}: a value beyond the header's {width} columns")
            for index in range(width):
                columns[index].append(_cell_text(row[index] if index < len(row) else None, index in money))
            written += 1
            if written % SHEET_BATCH_ROWS == 0:
                flush(writer)
        if columns[0]:
            flush(writer)
    if not written:
        raise InputDataError(f"{origin}: row 1 is a header and no settlement follows it (an empty sheet?)")
    return written


def _money_sources(names: list[str], read: ReadOptions) -> set[int]:
    """Positions of the columns that hold money, by header (the contract's names, aliases, Chinese, --map)."""
    from mediclear_cli.inputs import map_columns

    mapping = map_columns(Path("workbook"), names, read.maps)
    wanted = {mapping[c] for c in schema.MONEY_COLUMNS if c in mapping}
    return {i for i, n in enumerate(names) if n in wanted}


def estimated_rows(path: Path) -> int:
    """A guess of a text or Excel input's rows from its size (for sizing the run's database only)."""
    size = path.stat().st_size
    lowered = path.name.lower()
    if lowered.endswith(ARCHIVE_SUFFIXES) or lowered.endswith(EXCEL_SUFFIXES):
        size *= 6  # compressed
    return size // 150
