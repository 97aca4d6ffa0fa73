"""From a spreadsheet's cells to the input the records service takes.

Only what a spreadsheet says differently from a form is converted here: a link named by
its target's title or a unique field (never guessed: none or several matches is a row
error), a user by username or name, a choice by its value or its zh/en label, dates as
2026-12-04, 2026/12/4, 04.12.2026 or Excel serial numbers, money with a currency sign or
code. Everything else goes to the service as typed, where the one set of rules
(numbers in the user's language, ranges, required fields, …) judges it.

Lookups are made for a whole batch at once: one query per link field per batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..fields.person_name import split_name
from ..model.model import Entity, Field
from ..model.model import text as label_text
from ..records.context import Context
from ..records.masking import masked_fields
from ..storage import users
from . import messages as m
from .mapping import Mapping, fold, line_key, targets
from .messages import Problem

EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel's 1900 leap-year bug included)
SERIALS = (1, 2958465)  # 1900-01-01 .. 9999-12-31
_SEPARATORS = re.compile(r"[,;，；、|]")
_SYMBOLS = {"¥": "CNY", "￥": "CNY", "$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "HK$": "HKD",
            "元": "CNY", "人民币": "CNY", "RMB": "CNY"}
_MONEY = re.compile(r"^\s*(?P<pre>[A-Za-z]{3}|US\$|HK\$|RMB|人民币|[¥￥$€£])?\s*(?P<amount>[^A-Za-z¥￥$€£元]*?)\s*"
                    r"(?P<post>[A-Za-z]{3}|元|RMB)?\s*$")
_YMD = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DMY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass
class Prepared:
    """A record ready for the service: the number of its (first) row in the file, the
    input, the value of its key (update, upsert), and the problems found converting it
    (column, problem; `error_rows` says each one's row). A record with lines may span
    rows: `rows` are all of them, `line_rows` the row of each line per lines field."""

    number: int
    data: dict[str, Any]
    key: Any = None
    errors: list[tuple[str, Problem]] = field(default_factory=list)
    cells: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    error_rows: list[int] = field(default_factory=list)
    line_rows: dict[str, list[int]] = field(default_factory=dict)

    def fail(self, column: str, problem: Problem, number: int | None = None) -> None:
        self.errors.append((column, problem))
        self.error_rows.append(number if number is not None else self.number)

    def row_of_error(self, index: int) -> int:
        return self.error_rows[index] if index < len(self.error_rows) else self.number

    def row_of_line(self, lines: str, position: int) -> int:
        """The file's row of line `position` (1-based, as the service names it) of `lines`."""
        found = self.line_rows.get(lines) or []
        return found[position - 1] if 0 < position <= len(found) else self.number


class Converter:
    def __init__(self, service: Any, entity: Entity, mapping: Mapping, headers: list[str], context: Context):
        self.service = service
        self.entity = entity
        self.mapping = mapping
        self.headers = headers
        self.context = context
        self.keys = targets(entity)
        self.columns = [(i, h, mapping.columns.get(h)) for i, h in enumerate(headers) if mapping.columns.get(h)]
        # per mapped column, worked out once: (index, header, key, its lines field and own
        # key or None, the field it names, that field's own key, whether it sets several keys)
        self._plan = []
        for index, header, key in self.columns:
            split = line_key(key)
            field_ = self.keys.get(key)
            own = split[1] if split else key
            several = field_ is not None and field_.type.name in ("money", "person_name") and own == field_.name
            self._plan.append((index, header, key, split, field_, own, several))
        self._users: dict[str, set[int]] = {}
        self._options: dict[tuple[int, str], Any] = {}  # (id of the field, cell text) -> the option it names

    def convert(self, rows: list[list[Any]], numbers: list[int], seen_keys: dict[Any, int] | None = None) -> list[Prepared]:
        """The records of `rows` (a record's lines rows joined to it: pass whole records,
        see `Mapping.record_end`)."""
        links = self._resolve_links(rows)
        self._resolve_users(rows)
        prepared: list[Prepared] = []
        above: list[Any] | None = None
        lines = self.mapping.has_lines()  # asked once a batch: most imports have no lines
        for cells, number in zip(rows, numbers, strict=True):
            if lines and above is not None and self.mapping.continues(self.headers, above, cells):
                self._fill(prepared[-1], cells, number, links, first=False)
                prepared[-1].rows.append(number)
                above = cells
                continue
            above = cells
            row = Prepared(number=number, data={}, cells=cells, rows=[number])
            self._fill(row, cells, number, links, first=True)
            if self.mapping.key:
                row.key = row.data.get(self.mapping.key)
                column = self.mapping.column_of(self.mapping.key) or self.mapping.key
                if row.key is None and self.mapping.mode == "update" and not any(c == column for c, _ in row.errors):
                    row.fail(column, Problem(m.KEY_MISSING, {"key": self.mapping.key}))
                elif row.key is not None and seen_keys is not None:
                    folded = self._key_cell(cells)
                    if folded in seen_keys:
                        row.fail(column, Problem(m.SAME_KEY, {"row": seen_keys[folded], "key": self.mapping.key,
                                                              "value": row.key}))
                    else:
                        seen_keys[folded] = number
            prepared.append(row)
        return prepared

    def _fill(self, row: Prepared, cells: list[Any], number: int, links: dict[str, dict[str, set[int]]],
              first: bool) -> None:
        """The values of one row: the record's own (on its first row; later rows may only
        repeat them) and a line per lines field with a value in this row."""
        lines: dict[str, dict[str, Any]] = {}
        for index, header, key, split, field_, own, several in self._plan:
            value = cells[index]
            if value is None or value == "":
                continue  # an empty cell: the default on insert, the value kept on update
            if split is None and not first:
                if _text(value) != _text(row.cells[index]):
                    row.fail(header, Problem(m.LINE_DIFFERS, {"row": row.number, "value": _text(value)}), number)
                continue
            try:
                converted = self._value(key, own, field_, value, links)
            except _Refused as refused:
                row.fail(header, refused.problem, number)
                continue
            target = lines.setdefault(split[0], {}) if split else row.data
            if several and isinstance(converted, dict):
                target.update(converted)  # the amount and its currency; a name's parts
            else:
                target[own] = converted
        for name, line in lines.items():
            row.data.setdefault(name, []).append(line)
            row.line_rows.setdefault(name, []).append(number)

    def _key_cell(self, cells: list[Any]) -> Any:
        index = next((i for i, _h, k in self.columns if k == self.mapping.key), None)
        return None if index is None or cells[index] in (None, "") else _key_text(_text(cells[index]))

    def keys_seen(self, rows: list[list[Any]], numbers: list[int]) -> dict[Any, int]:
        """{key cell: row number} of rows (those a resumed run imported already)."""
        seen: dict[Any, int] = {}
        if self.mapping.key:
            for cells, number in zip(rows, numbers, strict=True):
                folded = self._key_cell(cells)
                if folded is not None:
                    seen.setdefault(folded, number)
        return seen

    # -- one value ------------------------------------------------------------------------
    def _value(self, key: str, own: str, field_: Field | None, value: Any,
               links: dict[str, dict[str, set[int]]]) -> Any:
        """`key` as mapped ('lines.product'), `own` as the field knows it ('product')."""
        if key == "id":
            return _whole(value)
        if key == "owner":
            return self._user(value)
        if field_ is None:
            return value
        if own != field_.name:  # an extra key (a money field's currency)
            return _text(value)
        kind = field_.type.name
        if kind == "link":
            return self._link(key, field_, value, links)
        if kind == "user":
            return self._user(value)
        if kind == "choice":
            return self._option(field_, value)
        if kind in ("multichoice", "tags"):
            items = value if isinstance(value, list) else [v.strip() for v in _SEPARATORS.split(_text(value))]
            return [self._option(field_, v) for v in items if v]
        if kind == "date":
            return _date(value)
        if kind == "datetime":
            return _moment(value)
        if kind == "money":
            return _money(field_, value)
        if kind == "person_name":  # a full name in one cell (as exports write it): split as forms do
            return {f"{field_.name}_{part}": text for part, text in split_name(_text(value)).items() if text}
        if kind in ("integer", "decimal", "percent", "duration"):
            return _number(value)
        if kind == "boolean":
            return value if isinstance(value, (bool, int)) else _text(value)
        return _text(value)

    def _option(self, field_: Field, value: Any) -> Any:
        """`_option`, remembered per field for a text cell: a file repeats a few options
        (or their labels) on every row."""
        if type(value) is not str:
            return _option(field_, value, self.context.actor.language)
        found = self._options.get((id(field_), value))
        if found is None:
            found = self._options[(id(field_), value)] = _option(field_, value, self.context.actor.language)
        return found

    def _link(self, key: str, field_: Field, value: Any, links: dict[str, dict[str, set[int]]]) -> int:
        text = _text(value)
        ids = links.get(key, {}).get(text, set())
        target = self.service.model.entity(field_.to)
        if not ids:
            raise _Refused(Problem(m.NO_MATCH, {"entity": target.label_text(self.context.actor.language),
                                                "value": text}))
        if len(ids) > 1:
            raise _Refused(Problem(m.AMBIGUOUS, {"count": len(ids), "value": text,
                                                 "entity": target.label_text(self.context.actor.language)}))
        return next(iter(ids))

    def _user(self, value: Any) -> int:
        text = _text(value)
        ids = self._users.get(text.casefold(), set())
        if len(ids) != 1:
            raise _Refused(Problem(m.NO_USER, {"value": text}))
        return next(iter(ids))

    # -- lookups for a batch ----------------------------------------------------------------
    def _resolve_links(self, rows: list[list[Any]]) -> dict[str, dict[str, set[int]]]:
        """{mapped key: {text: ids}}: targets named by a unique field or their title, among
        the records the user may read (others do not exist for them)."""
        found: dict[str, dict[str, set[int]]] = {}
        for index, _header, key in self.columns:
            field_ = self.keys.get(key)
            if field_ is None or field_.type.name != "link" or _own(key) != field_.name:
                continue
            wanted = {_text(cells[index]) for cells in rows if cells[index] not in (None, "")}
            if not wanted:
                continue
            target = self.service.model.entity(field_.to)
            table = target.table
            access = self.service.access(target, self.context)
            masked = masked_fields(target) if not (access.bypass or self.context.actor.system) else {}
            names = [f.name for f in target.fields.values()  # only what the user sees in clear:
                     if f.type.storage == "column" and f.name in table.c and not f.encrypted  # a match is
                     and (f.unique or f.name == target.title_field)  # no oracle for hidden values
                     and access.visible(f.name) and f.name not in masked]
            if not names:
                continue
            columns = [table.c[n] for n in names]
            statement = sa.select(table.c.id, *columns).where(sa.or_(*(c.in_(sorted(wanted)) for c in columns)))
            scope = self.service._restriction(access, "read", self.context)
            if scope is not None:
                statement = statement.where(scope)
            matches: dict[str, set[int]] = {}
            with self.service._read() as conn:
                for row in conn.execute(statement):
                    for name in names:
                        text = row._mapping[name]
                        if text is not None and str(text) in wanted:
                            matches.setdefault(str(text), set()).add(row.id)
            found[key] = matches
        return found

    def _resolve_users(self, rows: list[list[Any]]) -> None:
        wanted = set()
        for index, _header, key in self.columns:
            field_ = self.keys.get(key)
            if key == "owner" or (field_ is not None and field_.type.name == "user" and _own(key) == field_.name):
                wanted |= {_text(cells[index]).casefold() for cells in rows if cells[index] not in (None, "")}
        wanted -= set(self._users)
        if not wanted:
            return
        for text in wanted:
            self._users[text] = set()
        with self.service._read() as conn:
            for row in conn.execute(sa.select(users.c.id, users.c.username, users.c.display_name, users.c.email)
                                    .where(users.c.is_active.is_(True))):
                for name in (row.username, row.display_name, row.email):
                    if name and name.casefold() in wanted:
                        self._users[name.casefold()].add(row.id)


class _Refused(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


# -- values -----------------------------------------------------------------------------------
def _own(key: str) -> str:
    split = line_key(key)
    return split[1] if split else key


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13800138000 read by Excel as a number
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _key_text(value: Any) -> str:
    return fold(str(value)) if isinstance(value, str) else repr(value)


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return _text(value)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (time, timedelta)):
        return value
    return _text(value)


def _option(field_: Field, value: Any, language: str = "en") -> Any:
    """The option whose value or label (any language) the cell holds; anything else is a
    row error naming the options as the importing user reads them."""
    text = _text(value)
    folded = fold(text)
    for option in field_.options:
        if text == option.value:
            return option.value
    for option in field_.options:
        if folded == fold(option.value) or any(folded == fold(label) for label in (option.label or {}).values()):
            return option.value
    shown = [label_text(option.label, language, option.value) for option in field_.options if not option.hidden]
    listed = ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "")
    raise _Refused(Problem(m.NOT_AN_OPTION, {"value": text, "options": listed}))


def excel_date(serial: float) -> datetime:
    return EXCEL_EPOCH + timedelta(days=float(serial))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if SERIALS[0] <= value <= SERIALS[1]:
            return excel_date(float(value)).date()
        raise _Refused(Problem(m.NOT_A_DATE, {"value": value}))
    text = _text(value)
    parsed = _date_text(text)
    if parsed is None:
        raise _Refused(Problem(m.NOT_A_DATE, {"value": text}))
    return parsed


def _date_text(text: str) -> date | None:
    text = text.strip()
    try:
        for pattern, order in ((_YMD, (0, 1, 2)), (_DMY, (2, 1, 0))):
            match = pattern.match(text)
            if match:
                parts = match.groups()
                return date(int(parts[order[0]]), int(parts[order[1]]), int(parts[order[2]]))
        if text.isdigit() and 1 <= len(text) <= 7 and SERIALS[0] <= int(text) <= SERIALS[1]:
            return excel_date(int(text)).date()  # a serial number saved into a CSV
        return date.fromisoformat(text)
    except ValueError:
        return None


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if SERIALS[0] <= value <= SERIALS[1]:
            moment = excel_date(float(value))
            return moment.replace(microsecond=0) + timedelta(seconds=round(moment.microsecond / 1e6))
        raise _Refused(Problem(m.NOT_A_MOMENT, {"value": value}))
    text = _text(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    day_text, _, clock = text.partition(" ")
    day = _date_text(day_text)
    if day is not None:
        if not clock.strip():
            return datetime.combine(day, time())
        match = _TIME.match(clock.strip())
        if match:
            try:
                return datetime.combine(day, time(int(match[1]), int(match[2]), int(match[3] or 0)))
            except ValueError:
                pass
    raise _Refused(Problem(m.NOT_A_MOMENT, {"value": text}))


def _money(field_: Field, value: Any) -> dict[str, Any]:
    """{amount key: amount, currency key: code}: "¥1,234.50", "1234.50 CNY", "USD 12"."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return {field_.name: _number(value)}
    text = _text(value)
    match = _MONEY.match(text)
    if match is None or not (match["pre"] or match["post"]):
        return {field_.name: text}
    sign = match["pre"] or match["post"]
    code = _SYMBOLS.get(sign, sign.upper())
    result: dict[str, Any] = {field_.name: match["amount"].strip()}
    if not field_.currency_field:
        result[field_.type.currency_key(field_)] = code
    return result


def samples(rows: Iterable[list[Any]], index: int, count: int = 3) -> list[str]:
    found = []
    for cells in rows:
        if cells[index] not in (None, ""):
            found.append(_text(cells[index]))
            if len(found) == count:
                break
    return found
