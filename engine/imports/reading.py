"""Reading an uploaded file into a header and rows, or refusing it with a clear message.

CSV comes as UTF-8, UTF-8 with a BOM, or GBK/GB18030 (what Chinese Excel saves): the
bytes are decoded as UTF-8 strictly first, then as GB18030 (a superset of GBK), so a file
is never half-decoded into mojibake. The delimiter is sniffed (comma, semicolon, tab,
bar). XLSX is read by openpyxl in read-only mode; a zip bomb is refused from the sizes
in its directory before anything is unpacked, and merged header cells name every column
they span. Values keep their types (numbers, dates) for the conversion to judge.

A problem with the file as a whole raises ImportProblem: nothing is imported.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import iterparse

from ..gcpause import gc_paused
from . import messages as m
from .messages import ImportProblem

MB = 1024 * 1024
# an xlsx is a zip of XML, which compresses about 5-20 times; far beyond that is a bomb
MAX_UNPACKED_RATIO = 100
MAX_UNPACKED_TIMES_LIMIT = 20  # and no workbook unpacks beyond 20 times the largest upload
SNIFF_BYTES = 64 * 1024


def max_bytes() -> int:
    """The largest file accepted: TAILOR_IMPORT_MAX_MB (default 50)."""
    try:
        limit = float(os.environ.get("TAILOR_IMPORT_MAX_MB", "50"))
    except ValueError:
        limit = 50.0
    return int(max(limit, 0.001) * MB)


@dataclass
class Sheet:
    """A file's table: its column headers and its data rows (as many cells as headers),
    with each row's number as the spreadsheet shows it (the header is row 1)."""

    name: str
    headers: list[str]
    rows: list[tuple[Any, ...]]
    numbers: list[int]
    sheets: list[str] = field(default_factory=list)  # every sheet of a workbook
    encoding: str | None = None  # a CSV's

    def samples(self, column: int, count: int = 3) -> list[Any]:
        """The first few values of a column that are not empty."""
        found = []
        for row in self.rows:
            value = row[column]
            if value not in (None, ""):
                found.append(value)
                if len(found) == count:
                    break
        return found


def read_file(data: bytes, name: str, sheet: str | None = None) -> Sheet:
    """The table in an uploaded file (`name` is shown in messages)."""
    with gc_paused():  # a row is a few acyclic objects: the cyclic collector has nothing to find
        return _read(data, name, sheet)


def _read(data: bytes, name: str, sheet: str | None) -> Sheet:
    limit = max_bytes()
    if len(data) > limit:
        raise ImportProblem(m.TOO_LARGE, name=name, size=f"{len(data) / MB:.1f}", limit=f"{limit / MB:g}")
    if not data.strip():
        raise ImportProblem(m.EMPTY, name=name)
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, name, sheet, limit)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportProblem(m.OLD_EXCEL, name=name)
    kind = file_kind(data)
    if kind is not None:  # a PDF, a picture, a web page... named .csv: said as what it is
        raise ImportProblem(m.OTHER_KIND, name=name, kind=kind)
    if b"\x00" in data:  # UTF-16 text or a binary file, wherever the NUL is: not a CSV we read
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name)
    return _read_csv(data, name)


# the first bytes of files people upload by mistake, and what to call them
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"), (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
    (b"{\\rtf", "RTF"), (b"\x1f\x8b", "gzip"), (b"Rar!", "RAR"), (b"7z\xbc\xaf", "7-Zip"),
    (b"BM", "BMP"), (b"RIFF", "RIFF (WebP, WAV or AVI)"), (b"\x7fELF", "ELF"), (b"MZ", "Windows program"),
)
_HTML = re.compile(rb"^\s*(<!doctype html|<html|<\?xml[^>]*>\s*<html)", re.IGNORECASE)


def file_kind(data: bytes) -> str | None:
    """What a file that is not a spreadsheet is, from its first bytes (None: maybe text)."""
    head = data[:512].lstrip(b"\xef\xbb\xbf")
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            if signature in (b"BM", b"MZ") and b"\x00" not in data[:64]:
                continue  # two letters a CSV may begin with: only a binary file has NULs so soon
            return kind
    if _HTML.match(head):
        return "HTML"
    return None


# -- CSV --------------------------------------------------------------------------------------
def decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was in."""
    if b"\x00" in data[:SNIFF_BYTES]:  # UTF-16 or a binary file: not a CSV we read
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportProblem(m.UNKNOWN_ENCODING, name=name)


def _read_csv(data: bytes, name: str) -> Sheet:
    text, encoding = decode(data, name)
    if _looks_binary(text):
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name)
    sample = text[:SNIFF_BYTES]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:  # every cell is text: cleaned as `_clean` cleans it, without a call per cell
        lines = [(reader.line_num, [v.strip() or None for v in row]) for row in reader]
    except csv.Error as exc:
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name) from exc
    return _table(name, lines, [], encoding=encoding, cleaned=True)


def _looks_binary(text: str) -> bool:
    head = text[:4096]
    controls = sum(1 for c in head if ord(c) < 32 and c not in "\r\n\t")
    return controls > len(head) // 20


# -- XLSX -------------------------------------------------------------------------------------
def _read_xlsx(data: bytes, name: str, sheet: str | None, limit: int) -> Sheet:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name) from exc
    # checked from the zip's directory, before a byte is unpacked
    if unpacked > limit * MAX_UNPACKED_TIMES_LIMIT or (unpacked > 10 * MB and unpacked > len(data) * MAX_UNPACKED_RATIO):
        raise ImportProblem(m.ZIP_BOMB, name=name)
    if "xl/workbook.xml" not in archive.namelist():
        raise ImportProblem(m.NOT_A_SPREADSHEET, name=name)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportProblem(m.BAD_XLSX, name=name, reason=str(exc)[:200]) from exc
    try:
        names = list(workbook.sheetnames)
        if sheet is None:
            sheet = names[0] if names else None
        if sheet not in names:
            raise ImportProblem(m.NO_SHEET, name=name, sheet=sheet or "", sheets=", ".join(names))
        worksheet = workbook[sheet]
        merges = _merged_ranges(worksheet)
        rows = [(number, list(values)) for number, values in
                enumerate(worksheet.iter_rows(values_only=True), start=1)]
    except ImportProblem:
        raise
    except Exception as exc:
        raise ImportProblem(m.BAD_XLSX, name=name, reason=str(exc)[:200]) from exc
    finally:
        workbook.close()
    table = _table(name, rows, merges)
    table.name, table.sheets = sheet, names
    return table


def _merged_ranges(worksheet: Any) -> list[tuple[int, int, int, int]]:
    """(first row, first column, last row, last column) of each merged range, 1-based.
    openpyxl's read-only sheets do not give them, so the sheet's XML is scanned for its
    <mergeCell ref="A1:C1"/> elements (streamed: nothing is kept but those)."""
    from openpyxl.utils.cell import range_boundaries

    found = []
    try:
        source = worksheet._get_source()
    except Exception:
        return found
    with source:
        for _event, element in iterparse(source, events=("end",)):
            if element.tag.endswith("}mergeCell"):
                ref = element.get("ref")
                if ref and ":" in ref:
                    min_col, min_row, max_col, max_row = range_boundaries(ref)
                    found.append((min_row, min_col, max_row, max_col))
            element.clear()
    return found


# -- the table --------------------------------------------------------------------------------
def _table(name: str, rows: list[tuple[int, list[Any]]], merges: list[tuple[int, int, int, int]],
           encoding: str | None = None, cleaned: bool = False) -> Sheet:
    """The sheet of a file's rows (`cleaned`: their cells are `_clean`ed already)."""
    if not cleaned:
        rows = [(number, [_clean(v) for v in values]) for number, values in rows]
    while rows and not any(v not in (None, "") for v in rows[0][1]):
        rows.pop(0)  # blank lines above the header
    if not rows:
        raise ImportProblem(m.EMPTY, name=name)
    first = rows[0][0]
    # merged cells in the header: a range's value names every column it spans, and a header
    # of several rows (a merged group above its columns) is as deep as its deepest merge
    # (a cell merged across columns is a group heading: the row below names its columns)
    depth = 1
    for top, left, bottom, right in merges:
        if top == first:
            depth = max(depth, bottom - top + 1, 2 if right > left else 1)
    depth = min(depth, len(rows) - 1) if len(rows) > 1 else 1
    header_rows = [list(values) for _n, values in rows[:depth]]
    width = max(len(r) for _n, r in rows)
    for values in header_rows:
        values.extend([None] * (width - len(values)))
    for top, left, bottom, right in merges:
        if top < first or top >= first + depth:
            continue
        value = header_rows[top - first][left - 1] if left - 1 < width else None
        for r in range(top, min(bottom, first + depth - 1) + 1):
            for c in range(left, min(right, width) + 1):
                if header_rows[r - first][c - 1] in (None, ""):
                    header_rows[r - first][c - 1] = value
    headers = []
    parts_of = []
    for c in range(width):
        parts = []
        for values in header_rows:
            text = "" if values[c] is None else str(values[c]).strip()
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        parts_of.append(parts)
        headers.append(parts[-1] if parts else "")
    # a column named only by its group and sub-heading together ("Contact / Name") keeps both
    counts: dict[str, int] = {}
    for h in headers:
        counts[h.casefold()] = counts.get(h.casefold(), 0) + 1
    for c, parts in enumerate(parts_of):
        if len(parts) > 1 and counts[headers[c].casefold()] > 1:
            headers[c] = " / ".join(parts)
    while headers and headers[-1] == "":  # empty trailing columns
        headers.pop()
    if not any(headers):
        raise ImportProblem(m.NO_HEADER, name=name)
    seen: dict[str, str] = {}
    twice = []
    for h in headers:
        key = " ".join(h.split()).casefold()
        if not key:
            continue
        if key in seen and h not in twice:
            twice.append(h)
        seen[key] = h
    if twice:
        raise ImportProblem(m.DUPLICATE_HEADERS, name=name, headers=", ".join(f"'{h}'" for h in twice))
    data_rows, numbers = [], []
    wanted = len(headers)
    for number, values in rows[depth:]:
        # a tuple of texts and numbers: the cyclic collector stops tracking it after one look,
        # instead of scanning every row of a large file again at each full collection
        cells = tuple(values[:wanted]) if len(values) >= wanted else (*values, *[None] * (wanted - len(values)))
        if cells.count(None) == wanted:
            continue  # a blank line (a cleaned cell is never "": empty text is None)
        data_rows.append(cells)
        numbers.append(number)
    if not data_rows:
        raise ImportProblem(m.HEADER_ONLY, name=name)
    return Sheet(name=name, headers=headers, rows=data_rows, numbers=numbers, encoding=encoding)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value if value else None
    return value


def iter_chunks(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start:start + size]
