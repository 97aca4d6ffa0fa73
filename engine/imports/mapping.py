"""Which column of a file goes into which field, and how rows are matched to records.

Headers are matched to fields by name and by every label (zh and en), ignoring case,
spaces, underscores and a required marker (`名称*`), so "Short name", "short_name" and
"简称" all find `short_name`. The result is a `Mapping`: editable, saved and loaded as a
YAML file for the CLI (or as JSON by the pages), with samples of each column to check it.

Child lines (an order's lines) come from the same sheet: columns mapped to
`lines.product`, `lines.quantity`, … fill one line per row, and the rows of one record
follow each other. Which rows belong together: with `group` (a column, such as the
old system's order number), consecutive rows with the same value in it; without, a row
whose record columns are all empty continues the record above (as an export with merged
or blank parent cells looks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model.model import Entity, Field
from . import messages as m
from .messages import ImportProblem
from .reading import Sheet

MODES = ("insert", "update", "upsert")
SPECIAL = ("id", "owner")  # keys that are no field but may be imported
_NOISE = re.compile(r"[\s_\-*＊:：]+")


def fold(text: str) -> str:
    """A header or label as compared: no case, no spaces, underscores or required marks."""
    return _NOISE.sub("", str(text)).casefold()


def importable(field_: Field) -> bool:
    """Whether values of a field can come from a file's cells (not computed, rolled up or
    numbered by the engine; lines come through their subfields, see `targets`)."""
    return not (field_.is_computed or field_.type.derived or field_.is_autonumber
                or field_.type.name in ("lines", "links", "rollup"))


def targets(entity: Entity) -> dict[str, Field | None]:
    """Every key a column may be mapped to: fields, their extra keys (a money field's
    currency), `id`, `owner`, and the subfields of lines as `lines.product`."""
    found: dict[str, Field | None] = {"id": None, "owner": None}
    for f in entity.fields.values():
        if f.type.name == "lines":
            for sub in f.subfields.values():
                if importable(sub):
                    for key in sub.type.input_keys(sub):
                        found[f"{f.name}.{key}"] = sub
        elif importable(f):
            for key in f.type.input_keys(f):
                found[key] = f
    return found


def line_key(key: str | None) -> tuple[str, str] | None:
    """('lines', 'quantity') for 'lines.quantity'; None for a key of the record itself."""
    if not key or "." not in key:
        return None
    parent, own = key.split(".", 1)
    return parent, own


def _names(entity: Entity, key: str, field_: Field | None) -> list[str]:
    lines = line_key(key)
    if lines is not None:  # 'Lines product', '订单明细.产品', and the subfield's own names
        parent = entity.fields[lines[0]]
        own = _names(entity, lines[1], field_)
        prefixes = [lines[0], *(parent.label.values() if parent.label else [])]
        return [f"{p}{sep}{n}" for p in prefixes for n in own for sep in (".", " ", "-", "")] + own
    names = [key]
    if field_ is None:
        names += {"id": ["ID", "编号ID", "记录ID"], "owner": ["Owner", "负责人", "所有者"]}[key]
        return names
    labels = list(field_.label.values()) if field_.label else []
    if key == field_.name:
        names += labels
    else:  # an extra key: "<label> (currency)", "<label> currency", "<label>币种"
        suffix = key[len(field_.name) + 1:] if key.startswith(field_.name + "_") else key
        words = {"currency": ["currency", "币种", "货币"], "entity": ["entity", "类型"]}.get(suffix, [suffix])
        names += [f"{label} ({w})" for label in labels for w in words]
        names += [f"{label}{w}" for label in labels for w in words]
    return names


def suggest(entity: Entity, headers: list[str]) -> dict[str, str | None]:
    """{header: key or None}: each header matched by name or label; a key is given to the
    first header that names it only."""
    index: dict[str, str] = {}
    found = targets(entity)
    # the record's own fields first: 'Description' is the order's, 'Lines description' a line's
    for key in sorted(found, key=lambda k: line_key(k) is not None):
        for name in _names(entity, key, found[key]):
            index.setdefault(fold(name), key)
    result: dict[str, str | None] = {}
    used: set[str] = set()
    for header in headers:
        if not header:
            continue
        key = index.get(fold(header))
        if key is not None and key not in used:
            used.add(key)
            result[header] = key
        else:
            result[header] = None
    return result


def unique_keys(entity: Entity) -> list[str]:
    """The fields an update or upsert may match records on, besides id."""
    return [f.name for f in entity.fields.values() if f.unique and f.type.storage == "column"]


class MappingProblems(ImportProblem):
    """A mapping refused for one or more problems, all said at once."""

    def __init__(self, problems: list[ImportProblem]):
        self.problems = problems
        first = problems[0].problem
        super().__init__(first.message, **first.params)

    def text(self, language: str = "en") -> str:
        return "; ".join(p.text(language) for p in self.problems)

    def __str__(self) -> str:
        return self.text("en")


@dataclass
class Mapping:
    """An import's settings: columns to keys, the mode and the key it matches records on."""

    entity: str
    columns: dict[str, str | None]
    mode: str = "insert"
    key: str | None = None
    sheet: str | None = None
    group: str | None = None  # the column whose repeated value joins rows into one record ('': none)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def suggested(cls, entity: Entity, sheet: Sheet, mode: str = "insert", key: str | None = None) -> Mapping:
        mapping = cls(entity=entity.name, columns=suggest(entity, sheet.headers), mode=mode, key=key,
                      sheet=sheet.name if sheet.sheets else None)
        mapping.group = mapping.suggested_group(entity, sheet)
        return mapping

    def suggested_group(self, entity: Entity, sheet: Sheet) -> str | None:
        """With lines mapped: the first column no field takes (an old system's order number)
        or a unique field's, whose value repeats on consecutive rows; else None (blank
        record cells continue a record)."""
        if not self.has_lines():
            return None
        unique = {f.name for f in entity.fields.values() if f.unique} | {"id"}
        for i, header in enumerate(sheet.headers):
            key = self.columns.get(header)
            if not header or (key is not None and key not in unique):
                continue
            values = [row[i] for row in sheet.rows[:500]]
            if any(_filled(a) and str(a).strip() == str(b).strip() for a, b in zip(values, values[1:], strict=False)):
                return header
        return None

    def mapped(self) -> dict[str, str]:
        return {c: k for c, k in self.columns.items() if k}

    def check(self, entity: Entity, sheet: Sheet) -> None:
        """Refuse a mapping that cannot work, before any row is read: every problem at once
        (MappingProblems), so a mapping file is fixed in one go."""
        found = self.problems(entity, sheet)
        if found:
            raise MappingProblems(found)
        if self.mode != "insert" or self.key:
            self.key = self.key or "id"
        if self.group is None and self.key and self.has_lines():
            self.group = self.column_of(self.key)  # the key repeated on each line of its record

    def problems(self, entity: Entity, sheet: Sheet) -> list[ImportProblem]:
        """Everything wrong with the mapping for this entity and file (empty: it works)."""
        found: list[ImportProblem] = []
        if self.mode not in MODES:
            found.append(ImportProblem(m.BAD_MODE))
        allowed = targets(entity)
        seen: dict[str, str] = {}
        for column, key in self.mapped().items():
            if key not in allowed:
                found.append(ImportProblem(m.UNKNOWN_COLUMN_FIELD, column=column, field=key))
            elif key in seen:
                found.append(ImportProblem(m.MAPPED_TWICE, field=key, columns=f"'{seen[key]}', '{column}'"))
            else:
                seen[key] = column
        if not seen and not found:
            found.append(ImportProblem(m.NO_COLUMNS, entity=entity.name))
        if self.group and self.group not in sheet.headers:
            found.append(ImportProblem(m.NO_GROUP_COLUMN, column=self.group))
        if self.mode in MODES and (self.mode != "insert" or self.key):
            unique = unique_keys(entity)
            if self.key is None and "id" not in seen:  # update/upsert with no key named
                mapped = [k for k in ["id", *unique] if k in seen]
                found.append(ImportProblem(m.KEY_NEEDED, mode=self.mode, keys=", ".join(["id", *unique]),
                                           mapped=", ".join(mapped) or "-"))
            elif self.key is not None and self.key != "id" and self.key not in unique:
                found.append(ImportProblem(m.BAD_KEY, key=self.key, unique=", ".join(unique) or "-"))
            elif (self.key or "id") not in seen:
                found.append(ImportProblem(m.NO_KEY_COLUMN, key=self.key or "id"))
        return found

    def column_of(self, key: str) -> str | None:
        return next((c for c, k in self.columns.items() if k == key), None)

    # -- rows of one record -------------------------------------------------------------------
    def has_lines(self) -> bool:
        return any(line_key(k) for k in self.mapped().values())

    def continues(self, headers: list[str], above: list[Any], cells: list[Any]) -> bool:
        """Whether the row `cells` adds lines to the record of the row `above` it."""
        if not self.has_lines():
            return False
        if self.group:
            index = headers.index(self.group)
            return _filled(cells[index]) and str(cells[index]).strip() == str(above[index]).strip() \
                if _filled(above[index]) else False
        own = [i for i, h in enumerate(headers) if self.columns.get(h) and not line_key(self.columns[h])]
        lines = [i for i, h in enumerate(headers) if line_key(self.columns.get(h))]
        return not any(_filled(cells[i]) for i in own) and any(_filled(cells[i]) for i in lines)

    def record_end(self, headers: list[str], rows: list[list[Any]], end: int) -> int:
        """`end` moved on past the rows that continue the record before it (a batch never
        splits a record's lines)."""
        while 0 < end < len(rows) and self.continues(headers, rows[end - 1], rows[end]):
            end += 1
        return end

    # -- saving -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"entity": self.entity, "mode": self.mode, "columns": dict(self.columns)}
        if self.key:
            data["key"] = self.key
        if self.sheet:
            data["sheet"] = self.sheet
        if self.group is not None:
            data["group"] = self.group  # '' says: no column (blank record cells continue a record)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any) -> Mapping:
        if not isinstance(data, MappingABC) or not isinstance(data.get("columns"), MappingABC):
            raise ImportProblem(m.BAD_MAPPING_FILE, reason="expected entity, mode and columns: {header: field}")
        columns = {str(c): (str(k) if k not in (None, "") else None) for c, k in data["columns"].items()}
        return cls(entity=str(data.get("entity") or ""), columns=columns, mode=str(data.get("mode") or "insert"),
                   key=data.get("key") or None, sheet=data.get("sheet") or None,
                   group=None if data.get("group") is None else str(data["group"]))

    @classmethod
    def from_yaml(cls, text: str) -> Mapping:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ImportProblem(m.BAD_MAPPING_FILE, reason=str(exc).splitlines()[0]) from exc
        return cls.from_dict(data)

    def merged_over(self, suggested: Mapping) -> Mapping:
        """This saved mapping applied to a new file: headers it names keep its choice, new
        headers keep the suggestion."""
        columns = {c: (self.columns[c] if c in self.columns else k) for c, k in suggested.columns.items()}
        return Mapping(entity=suggested.entity, columns=columns, mode=self.mode, key=self.key,
                       sheet=self.sheet or suggested.sheet,
                       group=self.group if self.group is not None else suggested.group)


def _filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""
