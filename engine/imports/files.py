"""Files going out: the failed rows of an import (to fix and import again) and exports.

Both write CSV (UTF-8 with a BOM, which Excel reads as UTF-8) or XLSX through openpyxl's
write-only mode, which streams rows to disk: a million rows export in flat memory. In
XLSX, money and numbers are numbers, dates and times are dates (with a number format),
and text is always text: openpyxl would otherwise make a cell starting with `=` a formula.
In CSV, text that a spreadsheet would run as a formula gets a leading apostrophe
(`safe_cell`); plain numbers such as -5 stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

from ..model.model import Entity, Field
from ..records.context import Context
from ..records.query import Query, cursor
from ..records.titles import read_titles
from ..storage import users
from .messages import N_, Problem
from .reading import Sheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d[\d,]*)?(\.\d+)?%?$")
EXPORT_BATCH = 1000  # the most rows a list reads at once
ERROR_HEADER = N_("Import errors")
YES, NO = N_("Yes"), N_("No")
# Excel number formats of exported columns by field type. A percent field holds 12.5 for
# 12.5 %: the cell keeps 12.5 (so the file imports again as it was) and shows "12.50%".
NUMBER_FORMATS = {"money": "#,##0.00", "percent": '0.00"%"', "duration": "[h]:mm:ss"}
CURRENCY = N_("currency")


def safe_cell(text: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (a plain number
    such as -5 or +3.5 is left as it is: no spreadsheet runs it)."""
    if text[:1] in FORMULA_START and not _PLAIN_NUMBER.match(text.strip() or "x"):
        return "'" + text
    return text


def say(text: str, language: str) -> str:
    return Problem(text).text(language) if "%(" not in text else text


# -- writers ----------------------------------------------------------------------------------
class _CsvWriter:
    def __init__(self, out: IO[bytes]):
        self.out = out
        self.out.write("\ufeff".encode())

    def row(self, values: list[Any], formats: list[str | None] | None = None) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow([_csv_text(v) for v in values])
        self.out.write(buffer.getvalue().encode("utf-8"))

    def close(self) -> None:
        self.out.flush()


class _XlsxWriter:
    def __init__(self, out: IO[bytes], title: str):
        from openpyxl import Workbook

        self.out = out
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(title=title[:31] or "Sheet1")

    def row(self, values: list[Any], formats: list[str | None] | None = None) -> None:
        from openpyxl.cell import WriteOnlyCell

        cells: list[Any] = []
        for index, value in enumerate(values):
            value = _xlsx_value(value)
            number_format = formats[index] if formats is not None and index < len(formats) else None
            if isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(self.sheet, value=value)
                cell.data_type = "s"  # text, never a formula (openpyxl makes '=…' one)
                cells.append(cell)
            elif number_format and isinstance(value, (int, float, Decimal, timedelta)) and not isinstance(value, bool):
                cell = WriteOnlyCell(self.sheet, value=value)
                cell.number_format = number_format  # money with 2 decimals, percent, [h]:mm
                cells.append(cell)
            else:  # numbers stay numbers; dates get openpyxl's date formats
                cells.append(value)
        self.sheet.append(cells)

    def close(self) -> None:
        self.workbook.save(self.out)


def writer(fmt: str, out: IO[bytes], title: str = "Sheet1") -> _CsvWriter | _XlsxWriter:
    if fmt == "xlsx":
        return _XlsxWriter(out, title)
    if fmt == "csv":
        return _CsvWriter(out)
    raise ValueError(f"unknown format '{fmt}': csv or xlsx")


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else value.isoformat(sep=" ")
    if isinstance(value, (date, int, Decimal, float)):
        return str(value)
    return safe_cell(str(value))


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC, said in the header
    if isinstance(value, Decimal):
        return value if abs(value) < Decimal("1e15") else str(value)
    if isinstance(value, str) and len(value) > 32767:
        return value[:32767]
    return value


# -- failed rows ------------------------------------------------------------------------------
def failed_rows(sheet: Sheet, errors: Iterable[Any], fmt: str, out: IO[bytes], language: str = "en",
                mapping: Any = None) -> int:
    """The rows that failed, as they were in the file, with a column saying why; returns
    how many were written. With the import's `mapping`, a failed record's every row (its
    lines) is written, so the file imports again as a whole."""
    messages: dict[int, list[str]] = {}
    for error in errors:
        text = error.problem.text(language)
        messages.setdefault(error.row, []).append(f"{error.column}: {text}" if error.column else text)
    records: list[int] = []  # the index of each row's record
    for i, cells in enumerate(sheet.rows):
        joined = i > 0 and mapping is not None and mapping.continues(sheet.headers, sheet.rows[i - 1], cells)
        records.append(records[-1] if joined else i)
    failed = {records[i] for i, number in enumerate(sheet.numbers) if number in messages}
    target = writer(fmt, out, "errors")
    target.row([*sheet.headers, say(ERROR_HEADER, language)])
    written = 0
    for i, (cells, number) in enumerate(zip(sheet.rows, sheet.numbers, strict=True)):
        if records[i] in failed:
            target.row([*cells, "; ".join(messages.get(number, []))])
            written += 1
    target.close()
    return written


# -- exports ----------------------------------------------------------------------------------
def exported_fields(entity: Entity) -> list[Field]:
    """The fields an export holds: every field but child rows, lists of links and removed
    (`hidden: true`) fields, which no page shows either."""
    return [f for f in entity.fields.values() if f.type.name not in ("lines", "links") and not f.hidden]


def export(service: Any, entity_name: str, fmt: str, out: IO[bytes], context: Context | None = None,
           where: str | None = None, sort: tuple[str, ...] | None = None,
           progress: Callable[[int], None] | None = None) -> int:
    """Every record of the entity the user may export (matching `where`), streamed a page
    at a time; returns the number of rows written."""
    context = context or Context()
    entity = service.model.entity(entity_name)
    service.authorize(entity.name, "export", context)
    language = context.actor.language
    access = service.access(entity, context)
    fields = [f for f in exported_fields(entity) if access.bypass or access.visible(f.name)]
    header = ["ID"]
    for f in fields:
        label = f.label_text(language)
        if f.type.name == "datetime":
            label += " (UTC)"
        header.append(label)
        if f.type.name == "money" and not f.currency_field:
            header.append(f"{label} ({say(CURRENCY, language)})")
    target = writer(fmt, out, entity.plural_text(language))
    target.row([safe_cell(h) for h in header])
    formats: list[str | None] = [None]  # per column, as the header: the ID, then each field
    for f in fields:
        formats.append(_number_format(f))
        if f.type.name == "money" and not f.currency_field:
            formats.append(None)
    typed = fmt == "xlsx"
    query = Query(where=where, sort=sort or ("id",), limit=EXPORT_BATCH)
    written = 0
    for rows in _pages(service, entity, query, context):
        names = _names(service, entity, fields, rows, context)
        for row in rows:
            values: list[Any] = [row.get("id")]
            for f in fields:
                values.append(_cell(f, row, names, language, typed))
                if f.type.name == "money" and not f.currency_field:
                    values.append(f.type.currency_of(row, f) if row.get(f.name) is not None else None)
            target.row(values, formats)
        written += len(rows)
        if progress is not None:
            progress(written)
    target.close()
    return written


def _pages(service: Any, entity: Entity, query: Query, context: Context) -> Iterator[list[dict[str, Any]]]:
    after = None
    while True:
        rows = service.list(entity.name, replace(query, after=after), context, action="export")
        if rows:
            yield rows
        if len(rows) < query.limit:
            return
        after = cursor(entity, replace(query, after=after), rows[-1])


def _names(service: Any, entity: Entity, fields: list[Field], rows: list[dict[str, Any]],
           context: Context) -> dict[str, dict[Any, str]]:
    """Titles of linked records and names of users, one query per link field a page."""
    import sqlalchemy as sa

    found: dict[str, dict[Any, str]] = {}
    user_ids: set[int] = set()
    for f in fields:
        if f.type.name == "link":
            ids = {row.get(f.name) for row in rows if row.get(f.name) is not None}
            found[f.name] = read_titles(service, service.model.entity(f.to), ids, context, context.actor.language)
        elif f.type.name == "user":
            user_ids |= {row.get(f.name) for row in rows if row.get(f.name) is not None}
    if user_ids:
        with service.engine.connect() as conn:
            found["@users"] = {r.id: r.display_name or r.username for r in conn.execute(
                sa.select(users.c.id, users.c.username, users.c.display_name).where(users.c.id.in_(user_ids)))}
    return found


def _number_format(f: Field) -> str | None:
    """The Excel number format of a field's column (money with two decimals, percent,
    durations in hours and minutes), or None for Excel's own (dates get openpyxl's)."""
    return NUMBER_FORMATS.get(f.type.name)


def _cell(f: Field, row: dict[str, Any], names: dict[str, dict[Any, str]], language: str,
          typed: bool = False) -> Any:
    """A field's value in an exported cell. `typed` (XLSX): booleans are Excel's TRUE and
    FALSE and durations are Excel durations (both import again as they were); CSV has
    Yes/No (in the reader's language) and durations as people write them."""
    value = row.get(f.name)
    if value is None or value == "" or value == []:
        return None
    if typed and isinstance(value, bool):
        return value
    if typed and isinstance(value, timedelta):
        return value
    text = f.type.display(row, f, language)
    if text is not None:
        return " ".join(str(text).split())
    kind = f.type.name
    if kind == "choice":
        return _option_label(f, value, language)
    if kind in ("multichoice", "tags"):
        return ", ".join(_option_label(f, v, language) for v in value)
    if kind == "link":
        return names.get(f.name, {}).get(value, f"#{value}")
    if kind == "user":
        return names.get("@users", {}).get(value, f"#{value}")
    if isinstance(value, bool):
        return say(YES if value else NO, language)
    if isinstance(value, timedelta):
        return value.total_seconds() / 86400  # a duration in days, as Excel counts time
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def _option_label(f: Field, value: Any, language: str) -> str:
    for option in f.options:
        if option.value == value:
            return (option.label or {}).get(language) or (option.label or {}).get("en") or str(value)
    return str(value)
