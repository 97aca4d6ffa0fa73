"""The report builder's form, read into a report document (as reports/*.yaml states one).

The form only *translates*: it never decides what a report may do. What it cannot turn
into a document (a limit that is not a number, a list filter value that is not a date) is
an input error of its own; everything else is decided by `check_report`, the YAML
checker, on the document built here, so the page refuses exactly what the checker
refuses and says it with the checker's words.

The list page's filters (the entity's `list.filters`, as its filter form offers them) are
turned into conditions of the expression language and joined to the typed filter with
`and`: the saved document is a plain report whose `filter` says everything, and the
checker checks those fields as well (hidden, encrypted, not stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ...model import Entity
from ...reports.checks import BUCKETS, DATE_TYPES, GROUP_TYPES, KINDS, NUMBER_TYPES, STANDARD, ReportChecker
from ..i18n import gettext as _
from ..i18n import label

MAX_MEASURES = 6
TEXT_MAX = 2000  # an expression or a label typed in the form
TITLE_MAX = 200
CHARTS = ("table", "bar", "stacked_bar", "line", "area", "pie", "donut", "funnel", "number", "pivot")
LIST_PREFIX = "lf."  # the list page's filter parameters, as `lf.stage`, `lf.close_date.from`
# the list filters the builder turns into expressions (percent and duration values are read
# by their field types on the list page: the builder leaves them to the typed filter)
LIST_KINDS = ("choice", "boolean", "user", "link", "date", "datetime", "number", "money", "multi", "text")


def N_(message: str) -> str:
    return message


KIND_LABELS = {"count": N_("Count"), "sum": N_("Sum"), "avg": N_("Average"), "min": N_("Minimum"),
               "max": N_("Maximum"), "count_distinct": N_("Distinct count"), "ratio": N_("Ratio")}
BUCKET_LABELS = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month"), "quarter": N_("Quarter"),
                 "year": N_("Year"), "month_of_year": N_("Month of the year (every year together)")}
CHART_LABELS = {"table": N_("Table"), "bar": N_("Bar"), "stacked_bar": N_("Stacked bar"), "line": N_("Line"),
                "area": N_("Area"), "pie": N_("Pie"), "donut": N_("Donut"), "funnel": N_("Funnel"),
                "number": N_("Number card"), "pivot": N_("Pivot table")}
STANDARD_LABELS = {"owner": N_("Owner"), "owner.department": N_("Owner's department"), "created_by": N_("Created by"),
                   "created_at": N_("Created"), "updated_at": N_("Updated")}


@dataclass
class BuilderForm:
    """The builder's inputs as posted (strings, trimmed), kept with a saved report to edit it."""

    entity: str = ""
    title: str = ""
    filter: str = ""
    period: str = ""
    chart: str = "table"
    sort: str = ""
    limit: str = ""
    roles: list[str] = field(default_factory=list)
    groups: list[dict[str, str]] = field(default_factory=lambda: [{"field": "", "bucket": ""} for _ in range(2)])
    measures: list[dict[str, str]] = field(default_factory=list)
    list_params: list[list[str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "title": self.title, "filter": self.filter, "period": self.period,
                "chart": self.chart, "sort": self.sort, "limit": self.limit, "roles": list(self.roles),
                "groups": self.groups, "measures": self.measures, "list_params": self.list_params}

    @classmethod
    def from_json(cls, data: Any) -> BuilderForm:
        form = cls()
        if not isinstance(data, dict):
            return form
        for key in ("entity", "title", "filter", "period", "chart", "sort", "limit"):
            if isinstance(data.get(key), str):
                setattr(form, key, data[key])
        form.roles = [r for r in data.get("roles") or () if isinstance(r, str)]
        groups = [g for g in data.get("groups") or () if isinstance(g, dict)][:2]
        form.groups = [{"field": str(g.get("field") or ""), "bucket": str(g.get("bucket") or "")} for g in groups]
        form.groups += [{"field": "", "bucket": ""} for _ in range(2 - len(form.groups))]
        form.measures = [{k: str(v) for k, v in m.items()} for m in data.get("measures") or () if isinstance(m, dict)]
        form.list_params = [[str(k), str(v)] for k, v in (p for p in data.get("list_params") or ()
                                                          if isinstance(p, list) and len(p) == 2)]
        return form

    def measure_rows(self) -> list[dict[str, str]]:
        """The measure inputs shown: the filled ones, then empty ones up to MAX_MEASURES."""
        slots = [f"m{i}" for i in range(1, MAX_MEASURES + 1)]
        given = {m.get("slot"): dict(m) for m in self.measures if m.get("slot") in slots}
        filled = [given[s] for s in slots if s in given]
        return filled + [{"slot": s, "kind": "", "field": "", "label": "", "filter": "", "a": "", "b": ""}
                         for s in slots if s not in given]

    def list_value(self, param: str) -> str:
        return next((v for k, v in self.list_params if k == param), "")


def _text(value: Any, limit: int = TEXT_MAX) -> str:
    return str(value or "").replace("\x00", "").strip()[:limit + 1]


def read_form(data: Any) -> BuilderForm:
    """The posted form (a MultiDict) as a BuilderForm; never fails."""
    form = BuilderForm(entity=_text(data.get("entity"), 64), title=_text(data.get("title"), TITLE_MAX),
                       filter=_text(data.get("filter")), period=_text(data.get("period"), 64),
                       chart=_text(data.get("chart"), 32) or "table", sort=_text(data.get("sort"), 80),
                       limit=_text(data.get("limit"), 20))
    form.roles = list(dict.fromkeys(_text(r, 64) for r in data.getlist("roles") if _text(r, 64)))[:50]
    form.groups = [{"field": _text(data.get(f"g{i}"), 80), "bucket": _text(data.get(f"g{i}_bucket"), 16)}
                   for i in (1, 2)]
    for i in range(1, MAX_MEASURES + 1):
        slot = f"m{i}"
        row = {"slot": slot, **{k: _text(data.get(f"{slot}_{k}")) for k in ("kind", "field", "label", "filter", "a", "b")}}
        if row["kind"]:
            form.measures.append(row)
    for key in data:
        if key.startswith(LIST_PREFIX):
            for value in data.getlist(key)[:20]:
                if _text(value, 200):
                    form.list_params.append([key[len(LIST_PREFIX):][:80], _text(value, 200)])
    return form


# -- what the inputs offer ----------------------------------------------------------------------
def field_type(model: Any, entity: Entity, name: str) -> str | None:
    """A field's type as the report checker sees it (a stored computed field by what it holds)."""
    if name in STANDARD and name not in entity.fields:
        return STANDARD[name]
    if name == "owner.department":
        return "department"
    fields = (model.spec["entities"].get(entity.name) or {}).get("fields")
    spec = (fields or {}).get(name)
    if isinstance(spec, dict):
        return ReportChecker.type_of(None, spec)  # type: ignore[arg-type]  (reads the spec only)
    field_ = entity.fields.get(name)
    return field_.type.name if field_ is not None else None


def field_label(entity: Entity, name: str) -> str:
    if name in STANDARD_LABELS and name not in entity.fields:
        return _(STANDARD_LABELS[name])
    field_ = entity.fields.get(name)
    return label(field_.label, name) if field_ is not None else name


def offered_fields(model: Any, entity: Entity, visible: Any) -> dict[str, list[tuple[str, str]]]:
    """The fields each input offers the user: {groups, dates, measures} -> [(name, label)].
    Only fields the user sees; the checker still decides what is posted."""
    names = [n for n, f in entity.fields.items() if not f.hidden and visible(n)]
    standard = [n for n in ("owner", "owner.department", "created_by", "created_at", "updated_at")
                if n not in entity.fields]
    groups, dates, measures = [], [], []
    for name in [*names, *standard]:
        kind = field_type(model, entity, name)
        item = (name, field_label(entity, name))
        field_ = entity.fields.get(name)
        encrypted = field_ is not None and field_.encrypted
        if (kind in GROUP_TYPES or kind == "department") and not encrypted:
            groups.append(item)
        if kind in DATE_TYPES:
            dates.append(item)
        if (kind in GROUP_TYPES or kind in NUMBER_TYPES) and kind != "department" and not encrypted:
            measures.append(item)
    return {"groups": groups, "dates": dates, "measures": measures}


# -- the document -------------------------------------------------------------------------------
@dataclass
class Built:
    document: dict[str, Any]
    errors: dict[str, list[str]]  # input key -> messages of the form itself (translated)


def _literal(value: str) -> str:
    return repr(value)


def _number(value: str) -> str | None:
    try:
        number = Decimal(value.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        return None
    return format(number, "f") if number.is_finite() and abs(number) < Decimal(10) ** 18 else None


def list_conditions(entity: Entity, filters: list[Any], params: list[list[str]],
                    errors: dict[str, list[str]]) -> list[str]:
    """The list page's filters chosen (`lf.` parameters) as expressions. `filters`: the
    list's filters as its page offers them to this user (lists.filters_of)."""
    by_param = {p: f for f in filters if f.kind in LIST_KINDS for p in f.params}
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    conditions = []
    for key, given in values.items():
        spec = by_param.get(key)
        if spec is None:
            errors.setdefault("list", []).append(_("'%(name)s' is not a filter of this list", name=key))
            continue
        condition = _condition(entity, spec, key, given)
        if condition is None:
            errors.setdefault("list", []).append(
                _("%(name)s: '%(value)s' is not a valid value", name=spec.label, value=given[0]))
        else:
            conditions.append(condition)
    return conditions


def _condition(entity: Entity, spec: Any, key: str, given: list[str]) -> str | None:
    name, value = spec.name, given[0]
    if len(given) > 1 and spec.kind != "choice":
        return None
    if spec.kind in ("date", "datetime"):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None
        if spec.kind == "date":
            op = ">=" if key.endswith(".from") else "<="
            return f"{name} {op} date('{day.isoformat()}')"
        if key.endswith(".from"):
            return f"{name} >= datetime('{datetime.combine(day, time()).isoformat()}Z')"
        if day == date.max:
            return f"{name} is not None"
        return f"{name} < datetime('{datetime.combine(day + timedelta(days=1), time()).isoformat()}Z')"
    if spec.kind in ("number", "money"):
        number = _number(value)
        if number is None:
            return None
        return f"{name} {'>=' if key.endswith('.min') else '<='} {number}"
    if spec.kind == "choice":
        options = spec.field.option_values
        if any(v not in options for v in given):
            return None
        if len(given) == 1:
            return f"{name} == {_literal(value)}"
        return f"{name} in [{', '.join(_literal(v) for v in given)}]"
    if spec.kind == "boolean":
        return {"1": f"{name} == true", "0": f"{name} == false"}.get(value)
    if spec.kind in ("user", "link"):
        if spec.kind == "user" and value == "mine":
            return f"{name} == user.id"  # the viewer's own: "my pipeline" for each who looks
        return f"{name} == {int(value)}" if re.fullmatch(r"[1-9][0-9]{0,17}", value) else None
    if spec.kind == "multi":
        return f"{_literal(value)} in {name}"
    return f"contains(lower({name}), {_literal(value.lower())})"  # text: as the list's search, case aside


def build_document(form: BuilderForm, entity: Entity | None, filters: list[Any], language: str,
                   name: str = "saved_new", need_title: bool = True) -> Built:
    """The report document the form states (unchecked) and the form's own input errors
    (a preview needs no title yet)."""
    errors: dict[str, list[str]] = {}
    doc: dict[str, Any] = {"report": name}
    if not form.title and need_title:
        errors.setdefault("title", []).append(_("Give the report a title."))
    elif len(form.title) > TITLE_MAX:
        errors.setdefault("title", []).append(_("At most %(n)s characters.", n=TITLE_MAX))
    doc["label"] = form.title[:TITLE_MAX] or name
    if not form.entity:
        errors.setdefault("entity", []).append(_("Choose what the report counts."))
    doc["entity"] = form.entity
    parts = []
    for key, text in (("filter", form.filter),):
        if len(text) > TEXT_MAX:
            errors.setdefault(key, []).append(_("At most %(n)s characters.", n=TEXT_MAX))
        elif text:
            parts.append(text)
    if entity is not None and form.list_params:
        parts += list_conditions(entity, filters, form.list_params, errors)
    if parts:
        doc["filter"] = parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)
    groups: list[Any] = []
    for item in form.groups:
        if not item.get("field"):
            continue
        bucket = item.get("bucket") or ""
        groups.append({"field": item["field"], "bucket": bucket} if bucket else item["field"])
    if groups:
        doc["group_by"] = groups
    measures = []
    for row in form.measures:
        slot, kind = row.get("slot") or "", row.get("kind") or ""
        if not re.fullmatch(r"m[1-9][0-9]?", slot):
            continue
        measure: dict[str, Any] = {"name": slot}
        if kind == "count":
            measure["count"] = True
        elif kind == "ratio":
            if not (row.get("a") and row.get("b")):
                errors.setdefault(slot, []).append(_("A ratio divides one measure by another: choose both."))
                continue
            measure["ratio"] = [row["a"], row["b"]]
        elif kind in KINDS:
            if not row.get("field"):
                errors.setdefault(slot, []).append(_("Choose the field it is computed on."))
                continue
            measure[kind] = row["field"]
        else:
            errors.setdefault(slot, []).append(_("Choose what it computes."))
            continue
        if row.get("label"):
            measure["label"] = row["label"][:TITLE_MAX]
        elif entity is not None:
            what = _(KIND_LABELS[kind])
            measure["label"] = {language: what if kind in ("count", "ratio")
                                else f"{what} · {field_label(entity, row.get('field') or '')}"}
        if row.get("filter") and kind != "ratio":
            if len(row["filter"]) > TEXT_MAX:
                errors.setdefault(slot, []).append(_("At most %(n)s characters.", n=TEXT_MAX))
            measure["filter"] = row["filter"][:TEXT_MAX]
        measures.append(measure)
    if not measures and not any(k.startswith("m") for k in errors):
        errors.setdefault("measures", []).append(_("Add at least one measure (a count, a sum...)."))
    doc["measures"] = measures
    if form.period:
        doc["period"] = form.period
    doc["chart"] = form.chart or "table"
    if form.sort:
        doc["sort"] = form.sort
    if form.limit:
        if re.fullmatch(r"-?[0-9]{1,9}", form.limit):
            doc["limit"] = int(form.limit)
        else:
            errors.setdefault("limit", []).append(_("Top N is a whole number from 1 to 1000."))
    doc["roles"] = list(form.roles)
    return Built(doc, errors)


# -- the checker's problems, next to the inputs -------------------------------------------------
SUMMARIES = {
    "E001": N_("A measure or the sort names something the report does not have, or a name is used twice."),
    "E002": N_("This field cannot be grouped."),
    "E003": N_("Day, week, month, quarter and year buckets are for date fields only."),
    "E004": N_("This measure cannot be computed on this field."),
    "E005": N_("Hidden fields cannot be grouped, filtered or summed (hidden from you, or from a role the report "
               "is shared with)."),
    "E006": N_("This chart does not fit the groups chosen."),
    "E007": N_("The period applies to a date field."),
    "E008": N_("There is no such role."),
    "E203": N_("Something the report needs is missing."),
    "E306": N_("There is no such entity."),
    "E307": N_("There is no such field."),
}
GENERAL = N_("The report cannot be saved like this.")
SCHEMA = N_("This value is not allowed here.")
EXPRESSION = N_("The condition is not valid.")


def summary(code: str) -> str:
    if code in SUMMARIES:
        return _(SUMMARIES[code])
    if code.startswith("E5"):
        return _(EXPRESSION)
    if code.startswith("E2"):
        return _(SCHEMA)
    return _(GENERAL)


def input_of(message: str, code: str) -> str:
    """Which input a checker problem is about, read from its message (the checker names
    the measure, the group, the filter...)."""
    found = re.search(r"(?:measure|ratio) '(m[0-9]+)'|measures\[(\d+)\]", message)
    if found and found.group(1):
        return found.group(1)
    if found:
        return "measures"
    lowered = message.split(", but ")[0].lower()  # what it does, not why it may not (E005 says "grouped")
    for key, words in (("sort", ("sorted by", "sort")), ("period", ("period",)), ("roles", ("role '", "roles")),
                       ("entity", ("entity",)), ("chart", ("chart", "number card", "funnel", "pivot")),
                       ("groups", ("group", "bucket")), ("limit", ("limit",)), ("filter", ("filter",)),
                       ("title", ("label",))):
        if any(w in lowered for w in words):
            return key
    if code.startswith("E5"):
        return "filter"
    return "general"


INPUTS = ("general", "title", "entity", "list", "filter", "groups", "measures",
          *(f"m{i}" for i in range(1, MAX_MEASURES + 1)), "period", "chart", "sort", "limit", "roles")

__all__ = ["BUCKETS", "BuilderForm", "Built", "CHARTS", "INPUTS", "build_document", "input_of", "offered_fields",
           "read_form", "summary"]
