"""List pages: filters, sort, keyset paging, saved views, CSV and XLSX export and bulk delete.

Everything goes through the records service; the URL only names fields, which are checked
against the entity's list configuration (`list.columns`, `list.filters`, sortable fields):

    q=…                  free-text search in `list.search` fields
    FIELD=…              choice / tags / link / user ("mine") / yes-no / text filter; a
                         polymorphic link by kind (`customer`) or record (`customer:5`)
    FIELD.from, .to      date and date-time range (YYYY-MM-DD, both ends included)
    FIELD.min, .max      number range (a duration range: `30 min`, `1:30`, `2 h`)
    sort=FIELD / -FIELD  one sortable column shown (or of the default sort)
    cols=A,B             the columns shown, among those the entity allows
    after=…              keyset cursor of the last row of the previous page

A parameter that is not one of these, or a value that does not fit its field, is a 400
page: a user mistake, never a 500. Hidden fields are never shown, filtered, sorted or
exported. A rollup the user sees over only the related records they may read (the
service works it out for them) is shown but neither sorted nor filtered on: an order would
tell the total; nor is a list sorted by such a field or a hidden one by default.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import Response, g, redirect, render_template, request, session, stream_with_context, url_for
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from ...fields.base import FieldValueError
from ...fields.duration import clock_text
from ...imports.files import NUMBER_FORMATS, safe_cell  # one rule for every file that leaves Tailor
from ...imports.files import writer as xlsx_writer
from ...model import Entity
from ...model.model import Field
from ...records import ConflictError, Context, NotFound, PermissionDenied, Query, ValidationError
from ...records.query import cursor, order_keys
from ...records.totals import summable, totals
from ...storage import saved_views, write_engine
from ..auth import context
from ..errors import page
from ..forms import active_users, read_titles, title_of, user_names
from ..i18n import fmt, label, locale_name, ngettext, say, say_error
from ..i18n import gettext as _
from ..ids import id_or_none
from ..polymorphic import kind_choices, target_text
from ..state import WebState
from . import access, bp, entity_or_404, model, render, service
from .display import contact_summary, displayed, item_list, one_line, others_text, rollup_plain, rollup_text
from .drill import BadDrill, read_drill

COUNT_CAP = 1000  # "1000+" beyond this
EXPORT_CAP = 50_000
EXPORT_BATCH = 1000
MAX_BULK = 1000
MAX_VIEWS = 100  # saved views per user and entity
MAX_TEXT = 200
STANDARD_KINDS = {"id": "number", "owner": "user", "created_by": "user", "created_at": "datetime",
                  "updated_at": "datetime"}
NUMBER_KINDS = ("number", "money", "percent")
COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-z]+)$")
RESERVED = ("q", "sort", "cols", "after")
DRILL = ("_report", "_row", "_from", "_to")  # a report's figure drilled into (drill.py)


class BadParameter(ValueError):
    """A query parameter the page cannot use; the message tells the user which and why."""


# -- what can be shown, filtered, sorted --------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text number money percent date datetime boolean choice multi link polymorphic user other
    field: Field | None
    restricted: bool = False  # a rollup worked out for this user: not sorted or filtered on

    @cached_property  # a page asks for each label several times (headers, column picker, CSV)
    def label(self) -> str:
        if self.field is None:
            return standard_label(self.name)
        return label(self.field.label, self.name.replace("_", " ").capitalize())

    @property
    def num(self) -> bool:
        return self.kind in NUMBER_KINDS or self.kind == "duration"

    @property
    def sortable(self) -> bool:
        if self.field is None:
            return self.name in ("id", "owner", "created_by", "created_at", "updated_at")
        return (self.field.type.storage == "column" and self.field.type.sortable and not self.restricted
                and not (self.field.is_computed and not self.field.stored) and not self.field.encrypted)

    @property
    def virtual(self) -> bool:
        return self.field is not None and self.field.is_computed and not self.field.stored


def N_(message: str) -> str:
    """Marks a message for the catalogue; it is translated where it is shown."""
    return message


STANDARD_LABELS = {"id": N_("ID"), "owner": N_("Owner"), "created_by": N_("Created by"), "created_at": N_("Created"),
                   "updated_at": N_("Updated")}


def standard_label(name: str) -> str:
    return _(STANDARD_LABELS[name]) if name in STANDARD_LABELS else name


def kind_of(entity: Entity, name: str) -> str:
    if name in STANDARD_KINDS:
        return STANDARD_KINDS[name]
    field_ = entity.fields[name]
    type_name = field_.type.name
    if type_name == "computed":
        return {"integer": "number", "decimal": "number", "number": "number", "money": "number",
                "percent": "percent", "boolean": "boolean", "date": "date",
                "datetime": "datetime"}.get(field_.returns or "decimal", "text")
    if type_name in ("choice", "link", "user", "boolean", "date", "datetime", "money", "percent", "duration"):
        return type_name
    if type_name == "polymorphic_link":
        return "polymorphic"
    if type_name == "rollup":  # a number, or the first or last date of the related records
        return field_.returns if field_.returns in ("date", "datetime") else "number"
    if type_name == "date_or_datetime":  # filtered by day like a datetime, shown as a day or a moment
        return "datetime"
    if type_name in ("multichoice", "tags"):
        return "multi"
    if field_.type.storage == "table":
        return "other"
    if field_.type.value_type == "number":
        return "number"
    return "text"


def column_of(entity: Entity, name: str) -> Column | None:
    """A column the user may see: a standard column or a field stored in the row (or
    computed when read) that is neither hidden in YAML nor by the user's roles."""
    if name in STANDARD_KINDS:
        return Column(name, STANDARD_KINDS[name], None)
    field_ = entity.fields.get(name)
    if field_ is None or field_.hidden or field_.type.storage == "table" or not access(entity).visible(name):
        return None
    return Column(name, kind_of(entity, name), field_, restricted=name in access(entity).scoped_fields())


def default_columns(entity: Entity) -> list[Column]:
    return [c for c in (column_of(entity, n) for n in entity.list.columns) if c is not None]


def available_columns(entity: Entity) -> list[Column]:
    """What a user may choose to show: the configured columns, then the other fields."""
    names = list(dict.fromkeys([*entity.list.columns, *entity.fields, "owner", "created_at", "updated_at"]))
    return [c for c in (column_of(entity, n) for n in names) if c is not None]


@dataclass(frozen=True)
class Filter:
    name: str
    kind: str
    field: Field | None

    @cached_property  # the filter form shows it several times (legend, labels of its inputs)
    def label(self) -> str:
        return Column(self.name, self.kind, self.field).label

    @property
    def params(self) -> tuple[str, ...]:
        if self.kind in ("date", "datetime"):
            return (f"{self.name}.from", f"{self.name}.to")
        if self.kind in NUMBER_KINDS or self.kind == "duration":
            return (f"{self.name}.min", f"{self.name}.max")
        return (self.name,)


def filters_of(entity: Entity) -> list[Filter]:
    result = []
    for name in entity.list.filters:
        column = column_of(entity, name)
        if column is None or column.virtual or column.kind == "other" or column.restricted:
            continue
        result.append(Filter(name, column.kind, column.field))
    return result


# -- reading the URL ----------------------------------------------------------------------------
@dataclass
class ListState:
    """What the URL asks for, checked."""

    params: list[tuple[str, str]] = field(default_factory=list)  # filter parameters given
    filters: list[tuple[str, str, Any]] = field(default_factory=list)
    search: str = ""
    sort: str | None = None
    columns: tuple[str, ...] | None = None  # None: the configured columns
    after: str | None = None
    drill: Any = None  # drill.Drill: the records behind one figure of a report

    def query_params(self, *, after: str | None = None, sort: str | None | bool = False,
                     columns: bool = True, paging: bool = False) -> list[tuple[str, str]]:
        """The URL parameters of this state (sort=False keeps the current sort)."""
        items = list(self.params)
        if self.drill is not None:
            items += list(self.drill.params)
        if self.search:
            items.append(("q", self.search))
        chosen = self.sort if sort is False else sort
        if chosen:
            items.append(("sort", chosen))
        if columns and self.columns is not None:
            items.append(("cols", ",".join(self.columns)))
        if after:
            items.append(("after", after))
        return items

    def saved(self) -> dict[str, Any]:
        """The state kept in a saved view: {filters, sort, columns, search}."""
        filters: dict[str, list[str]] = {}
        for key, value in self.params:
            filters.setdefault(key, []).append(value)
        return {"filters": filters, "sort": self.sort, "columns": list(self.columns) if self.columns else None,
                "search": self.search}


def _text(value: str, what: str) -> str:
    if "\x00" in value:
        raise BadParameter(_("%(name)s: invalid characters", name=what))
    if len(value) > MAX_TEXT:
        raise BadParameter(_("%(name)s: at most %(n)s characters", name=what, n=MAX_TEXT))
    return value.strip()


def _record_id(value: str, what: str) -> int:
    number = id_or_none(value)  # ASCII digits within BIGINT: not `1_000`, `١٢٣` or 2^63
    if number is None:
        raise BadParameter(_("%(name)s: '%(value)s' is not a record", name=what, value=value))
    return number


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(_("%(name)s: '%(value)s' is not a date (YYYY-MM-DD)", name=what, value=value)) from None


def read_state(entity: Entity, args, actor_id: int | None, *, board: bool = False) -> ListState:
    """Check every parameter; anything unknown or malformed is a BadParameter."""
    filters = {p: f for f in filters_of(entity) for p in f.params}
    for name, f in entity.fields.items():  # record pages link here with ?LINK_FIELD=ID ("show all")
        if f.type.name in ("link", "polymorphic_link") and not f.hidden and name not in filters \
                and access(entity).visible(name):
            filters[name] = Filter(name, kind_of(entity, name), f)
    state = ListState()
    for key in args:
        if key in DRILL:
            if len(args.getlist(key)) > 1:
                raise BadParameter(_("%(name)s: give it once", name=key))
            if key == "_report":
                try:
                    state.drill = read_drill(entity.name, args, service(), context())
                except BadDrill as exc:
                    raise BadParameter(str(exc)) from None
            continue
        values = [_text(v, key) for v in args.getlist(key)]
        values = [v for v in values if v != ""]
        if key in RESERVED:
            if len(values) > 1 and key != "cols":
                raise BadParameter(_("%(name)s: give it once", name=key))
            if not values:
                continue
            if key == "q":
                state.search = values[0]
            elif key == "sort":
                state.sort = values[0]
            elif key == "after":
                state.after = values[0]
            else:
                state.columns = tuple(dict.fromkeys(n.strip() for v in values for n in v.split(",") if n.strip()))
            continue
        spec = filters.get(key)
        if spec is None:
            raise BadParameter(_("'%(name)s' is not a filter of this list", name=key))
        if not values:
            continue
        if len(values) > 1 and spec.kind != "choice":
            raise BadParameter(_("%(name)s: give it once", name=key))
        state.params += [(key, v) for v in values]
        state.filters.append(_condition(spec, key, values, actor_id))
    if state.drill is None and any(args.get(k) for k in DRILL):
        raise BadParameter(_("_report: name the report whose records to show."))
    if state.columns is not None:
        allowed = {c.name for c in available_columns(entity)}
        unknown = [n for n in state.columns if n not in allowed]
        if unknown or not state.columns:
            raise BadParameter(_("cols: cannot show %(names)s", names=", ".join(unknown) or "—"))
        if state.columns == tuple(c.name for c in default_columns(entity)):
            state.columns = None
    if board:  # a board has its own order and no pages
        state.sort = state.after = None
    elif state.sort is not None:
        name = state.sort[1:] if state.sort.startswith("-") else state.sort
        if name not in sortable_keys(entity, state):
            raise BadParameter(_("cannot sort on '%(name)s'", name=name))
    return state


def _condition(spec: Filter, key: str, values: list[str], actor_id: int | None) -> tuple[str, str, Any]:
    name, value = spec.name, values[0]
    if spec.kind in ("date", "datetime"):
        day = _day(value, key)
        if key.endswith(".from"):
            return (name, "gte", day if spec.kind == "date" else datetime.combine(day, time(), UTC))
        if spec.kind == "date":
            return (name, "lte", day)
        if day == date.max:
            return (name, "not_empty", None)
        return (name, "lt", datetime.combine(day + timedelta(days=1), time(), UTC))
    if spec.kind in NUMBER_KINDS or spec.kind == "duration":
        return (name, "gte" if key.endswith(".min") else "lte", value)  # the field type checks it
    if spec.kind == "choice":
        unknown = [v for v in values if v not in spec.field.option_values]
        if unknown:
            raise BadParameter(_("%(name)s: '%(value)s' is not one of the options", name=key, value=unknown[0]))
        return (name, "in", values) if len(values) > 1 else (name, "eq", value)
    if spec.kind == "multi":
        return (name, "contains", value)
    if spec.kind == "user":
        if value == "mine":
            return (name, "eq", actor_id)
        return (name, "eq", _record_id(value, key))
    if spec.kind == "link":
        return (name, "eq", _record_id(value, key))
    if spec.kind == "polymorphic":  # a kind of record, or one record: `customer`, `customer:5`
        try:
            kind, record_id = spec.field.type.target(value, spec.field)
        except FieldValueError:
            kind = None
        if kind is None:
            raise BadParameter(_("%(name)s: '%(value)s' is neither a kind of record it points at nor one of "
                                 "their records", name=key, value=value))
        return (name, "eq", f"{kind}:{record_id}" if record_id is not None else kind)
    if spec.kind == "boolean":
        if value not in ("1", "0"):
            raise BadParameter(_("%(name)s: choose yes or no", name=key))
        return (name, "eq", value == "1")
    if spec.field is not None and spec.field.encrypted:  # found by the exact value only (its hash)
        return (name, "eq", value)
    return (name, "contains", value)


def sortable_keys(entity: Entity, state: ListState) -> set[str]:
    shown = {c.name for c in shown_columns(entity, state) if c.sortable}
    return shown | {k.lstrip("-") for k in list_sort(entity)}


def may_sort(entity: Entity, name: str) -> bool:
    """Whether the user may have rows ordered by a field: one they see, and not a rollup
    worked out for them (the order would follow the stored total of every record)."""
    return name in STANDARD_KINDS or (access(entity).visible(name) and name not in access(entity).scoped_fields())


def list_sort(entity: Entity) -> tuple[str, ...]:
    """The entity's default order for this user: `list.sort` without the fields they may
    not sort on (newest first when none is left)."""
    keys = tuple(k for k in entity.list.sort if may_sort(entity, k.lstrip("-")))
    return keys or ("-id",)


def default_sort(entity: Entity) -> tuple[str, ...] | None:
    """`Query.sort` for the default order: None (the entity's) when the user may use all of
    it, else the part they may."""
    keys = list_sort(entity)
    return None if keys == tuple(entity.list.sort) else keys


def shown_columns(entity: Entity, state: ListState) -> list[Column]:
    if state.columns is None:
        return default_columns(entity)
    return [c for c in (column_of(entity, n) for n in state.columns) if c is not None]


def selected(entity: Entity, columns: Iterable[Column]) -> tuple[str, ...]:
    """Fields to read for these columns (a field computed when read is computed from the
    fields it needs, which the records service reads; an amount whose currency is another
    field's needs that field too, when the user may see it)."""
    names = []
    for c in columns:
        if c.field is None or c.field.type.storage == "column" or c.virtual:
            names.append(c.name)
        other = c.field.currency_field if c.kind == "money" else None
        if other and other in entity.fields and access(entity).visible(other):
            names.append(other)
    return tuple(dict.fromkeys(names))


def to_query(entity: Entity, state: ListState, columns: list[Column]) -> Query:
    if state.drill is not None:  # the records of a report's figure, and the list's own filters
        drill = state.drill.drill
        return Query(where=drill.where, filters=(*drill.filters, *state.filters), search=state.search or None,
                     sort=(state.sort,) if state.sort else default_sort(entity), columns=selected(entity, columns),
                     limit=entity.list.page_size)
    return Query(filters=tuple(state.filters), search=state.search or None,
                 sort=(state.sort,) if state.sort else default_sort(entity), columns=selected(entity, columns),
                 limit=entity.list.page_size)


def list_url(entity: Entity, params: Iterable[tuple[str, str]], endpoint: str = "pages.list_page") -> str:
    bases = g.setdefault("_tailor_list_urls", {})  # a page links a dozen times to its list: url_for once
    base = bases.get((endpoint, entity.name))
    if base is None:
        base = bases[(endpoint, entity.name)] = url_for(endpoint, entity=entity.name)
    items = list(params)
    return f"{base}?{urlencode(items)}" if items else base


# -- presenting rows ----------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def badge_html(text: str, color: str | None) -> Markup:
    """A choice as a badge (the same few options fill a page: each is built once)."""
    if color and color.startswith("#"):
        return Markup(f'<span class="badge" style="background-color: {escape(color)}">{escape(text)}</span>')
    if color:
        return Markup(f'<span class="badge {escape(color)}">{escape(text)}</span>')
    return Markup(f'<span class="badge">{escape(text)}</span>')


def record_urls(entity_name: str) -> Callable[[int], str]:
    """The record page URL of any id, built once per page instead of once per row."""
    stem = url_for("pages.record_page", entity=entity_name, record_id=0)[:-1]
    return lambda record_id: f"{stem}{record_id}"


class Lookups:
    """Titles of linked records and names of users, read once per page: one query per
    linked entity, one for users."""

    def __init__(self, entity: Entity, columns: list[Column], rows: list[dict], ctx: Context):
        self.titles: dict[str, dict[int, str]] = {}
        self.users: dict[int, str] = {}
        self.locale = locale_name()
        self._urls: dict[str, Callable[[int], str] | None] = {}
        self._badges: dict[tuple[str, Any], tuple[str, str | None]] = {}
        wanted: dict[str, set[int]] = {}
        user_ids: set[int] = set()
        for column in columns:
            for row in rows:
                value = row.get(column.name)
                if value is None:
                    continue
                if column.kind == "link":
                    wanted.setdefault(column.field.to, set()).add(value)
                elif column.kind == "polymorphic" and isinstance(value, int):
                    kind = row.get(f"{column.name}_entity")
                    if isinstance(kind, str) and kind:
                        wanted.setdefault(kind, set()).add(value)
                elif column.kind == "user":
                    user_ids.add(value)
        for target_name, ids in wanted.items():
            self.titles[target_name] = titles_of(target_name, ids, ctx)
        if user_ids:
            self.users = user_names(user_ids)

    def url(self, entity_name: str) -> Callable[[int], str] | None:
        """Record page URLs of a linked entity (None when users cannot open it)."""
        if entity_name not in self._urls:
            target = model().entities.get(entity_name)
            self._urls[entity_name] = record_urls(entity_name) if target is not None and not target.hidden else None
        return self._urls[entity_name]

    def badge(self, field_: Field, value: Any) -> tuple[str, str | None]:
        key = (field_.name, value)
        if key not in self._badges:
            self._badges[key] = option_badge(field_, value)
        return self._badges[key]


def titles_of(target_name: str, ids: Iterable[int], ctx: Context) -> dict[int, str]:
    """Titles of linked records the user may read (the others show as #id)."""
    target = model().entities.get(target_name)
    if target is None:
        return {}
    return read_titles(target, ids, ctx)


ACTIVE_USERS = 500  # offered in a user filter


def option_badge(field_: Field, value: Any) -> tuple[str, str | None]:
    option = field_.option(value) if field_ is not None else None
    if option is None:
        return (str(value), None)
    color = option.color if option.color and COLOR.match(option.color) else None
    return (label(option.label, str(value)), color)


Renderer = Callable[[dict], str]  # a row -> the HTML of one value ("" when empty)


def renderers(columns: list[Column], lookups: Lookups, link: bool = True) -> list[Renderer]:
    """How each column shows a row's value, as escaped HTML, worked out once per page: a
    list page has hundreds of values, and building them here is several times cheaper than
    an object and a template call per value. `link=False`: no link to the linked record
    (for text that sits inside another link)."""
    return [renderer(c, lookups, link) for c in columns]


def renderer(column: Column, lookups: Lookups, link: bool = True) -> Renderer:
    name, kind, field_, locale = column.name, column.kind, column.field, lookups.locale

    def empty(value: Any) -> bool:
        return value is None or value == "" or value == []

    if item_list(field_):  # several e-mails or phones: the primary, "+2" when there are more
        return lambda row: "" if empty(row.get(name)) else str(contact_summary(field_, row))
    if displayed(field_):
        language = locale.split("_")[0]

        def shown(row: dict) -> str:
            if empty(row.get(name)):
                return ""
            text = field_.type.display(row, field_, language)
            return str(escape(one_line(text) if text is not None else fmt(row.get(name), "", locale)))
        return shown

    if kind == "choice":
        return lambda row: "" if empty(v := row.get(name)) else badge_html(*lookups.badge(field_, v))
    if kind == "multi":
        return lambda row: "" if empty(v := row.get(name)) else " ".join(
            badge_html(*lookups.badge(field_, item)) for item in v)
    if kind == "link":
        titles = lookups.titles.get(field_.to, {})
        url = lookups.url(field_.to) if link else None

        def linked(row: dict) -> str:
            value = row.get(name)
            if empty(value):
                return ""
            text = escape(titles.get(value, f"#{value}"))
            return f'<a href="{url(value)}">{text}</a>' if url is not None else str(text)
        return linked
    if kind == "polymorphic":
        key = f"{name}_entity"
        language = locale.split("_")[0]

        def target(row: dict) -> str:
            value, entity_name = row.get(name), row.get(key)
            if empty(value) or not entity_name:
                return "" if empty(value) else str(escape(f"#{value}"))
            title = lookups.titles.get(entity_name, {}).get(value)
            text = escape(target_text(entity_name, value, title, language))
            url = lookups.url(entity_name) if link and title is not None else None
            return f'<a href="{url(value)}">{text}</a>' if url is not None else str(text)
        return target
    if field_ is not None and field_.rollup is not None:
        return lambda row: "" if empty(v := row.get(name)) else str(escape(rollup_text(field_, v, locale)))
    if kind == "user":
        return lambda row: "" if empty(v := row.get(name)) else str(escape(lookups.users.get(v, f"#{v}")))
    if kind == "money":
        currency_of = field_.type.currency_of
        return lambda row: "" if empty(v := row.get(name)) else str(escape(
            f"{fmt(v, 'money', locale)} {currency_of(row, field_) or ''}".strip()))
    if kind == "percent":
        return lambda row: "" if empty(v := row.get(name)) else str(escape(f"{fmt(v, 'percent', locale)} %"))
    if kind == "number" and name != "id":
        return lambda row: "" if empty(v := row.get(name)) else str(escape(
            fmt(v, "decimal" if isinstance(v, Decimal) else "", locale)))
    return lambda row: "" if empty(v := row.get(name)) else str(escape(fmt(v, "", locale)))


def present(entity: Entity, columns: list[Column], rows: list[dict], ctx: Context) -> list[Markup]:
    """The `<td>`s of each row; the first value links to the row's record."""
    lookups = Lookups(entity, columns, rows, ctx)
    if not columns:
        return [Markup("") for _row in rows]
    url = record_urls(entity.name)
    first, rest = renderer(columns[0], lookups, link=False), renderers(columns[1:], lookups)
    keys = card_columns(entity, columns)
    opening = [_opening(c, i in keys) for i, c in enumerate(columns)]
    long_texts = [i for i, c in enumerate(columns) if c.kind == "text"]
    result = []
    for row in rows:
        shown = first(row) or escape(title_of(entity, row))  # an empty first column: what names the row
        parts = [f'{opening[0]}><a href="{url(row["id"])}">{shown}</a></td>']
        parts += [f"{opening[i]}>{show(row)}</td>" for i, show in enumerate(rest, 1)]
        for i in long_texts:  # cut short on the page: the whole text on hover
            value = row.get(columns[i].name)
            if isinstance(value, str) and len(value) > LONG_TEXT:
                parts[i] = parts[i].replace(">", f' title="{escape(value)}">', 1)  # the <td>'s own ">"
        result.append(Markup("".join(parts)))
    return result


LONG_TEXT = 16  # a longer text may be cut short ("…") in its cell: the whole text shows on hover


def card_columns(entity: Entity, columns: list[Column]) -> set[int]:
    """The columns a phone shows in a record's card: the first (what names the record), the
    next three, and the stage, wherever it is."""
    stage = {i for i, c in enumerate(columns) if entity.stage and c.name == entity.stage}
    others = [i for i in range(1, len(columns)) if i not in stage][:3]
    return {0, *others, *stage} if columns else set()


def _opening(column: Column, key: bool) -> str:
    """A cell's opening tag, without its ">": a phone's card names the key fields' values."""
    if not key:
        return '<td class="num"' if column.num else "<td"
    return f'<td class="{"num key" if column.num else "key"}" data-label="{escape(column.label)}"'


# -- the page -----------------------------------------------------------------------------------
def bad_request(message: str):
    return page(400, _("Bad request"), message)


def asked(current: Entity, ctx: Context) -> tuple[ListState, list[Column], Query]:
    """What the request's parameters ask of a list (its page, its totals, its export): the
    state, the columns shown and the query; BadParameter or ValidationError when malformed."""
    state = read_state(current, request.args, ctx.actor.id)
    columns = shown_columns(current, state)
    return state, columns, to_query(current, state, columns)


@bp.get("/e/<entity>")
def list_page(entity: str):
    current = entity_or_404(entity)
    ctx = context()
    try:
        state, columns, query = asked(current, ctx)
        size = current.list.page_size
        rows = service().list(current.name, replace(query, limit=size + 1, after=state.after), ctx)
        total = service().count(current.name, query, ctx, limit=COUNT_CAP + 1)
    except (BadParameter, ValidationError) as exc:
        return bad_request(say_error(exc))
    more = len(rows) > size
    rows = rows[:size]
    # totals of up to COUNT_CAP records come with the page; of more, when the user asks (a
    # list of a million rows opens without summing them all)
    totals_url = None
    footer = None
    if len(rows) > 1 or more:
        if total <= COUNT_CAP:
            footer = totals_row(current, columns, query, ctx)
        elif any(summable(current, c.name) is not None for c in columns):
            totals_url = list_url(current, state.query_params(), "pages.list_totals")
    next_url = list_url(current, state.query_params(after=cursor(current, query, rows[-1]))) if more else None
    first_url = list_url(current, state.query_params()) if state.after else None
    headers = []
    effective = state.sort or next(iter(list_sort(current)), None)
    sortable = sortable_keys(current, state)
    for column in columns:
        href = None
        if column.sortable and column.name in sortable:
            target = f"-{column.name}" if effective == column.name else column.name
            href = list_url(current, state.query_params(sort=target))
        direction = "asc" if effective == column.name else "desc" if effective == f"-{column.name}" else None
        headers.append({"column": column, "href": href, "direction": direction})
    result = session.pop("tailor_list_result", None)
    if result and result.get("entity") != current.name:
        result = None
    return render(
        "list", current, rows=rows, rows_html=present(current, columns, rows, ctx), columns=columns, headers=headers,
        state=state, count_label=count_text(total, total > COUNT_CAP), next_url=next_url,
        first_url=first_url, filters=filter_widgets(current, state, ctx),
        available=available_columns(current), views=views_of(current),
        here=urlencode(state.query_params()), export_url=list_url(current, state.query_params(),
                                                                    "pages.list_export"),
        board_url=list_url(current, state.query_params(sort=None, columns=False), "pages.board")
        if current.stage else None,
        can_create=access(current).can("create"), can_export=access(current).can("export"),
        can_import=access(current).can("import"),
        xlsx_url=list_url(current, state.query_params(), "pages.list_export_xlsx"),
        can_delete=access(current).can("delete"),
        result=result, footer=footer, totals_url=totals_url,
    )


@bp.get("/e/<entity>/totals")
def list_totals(entity: str):
    """The totals row of a list with more than COUNT_CAP records (htmx: the list's tfoot)."""
    current = entity_or_404(entity)
    ctx = context()
    try:
        _state, columns, query = asked(current, ctx)
        footer = totals_row(current, columns, query, ctx)
    except (BadParameter, ValidationError) as exc:
        return bad_request(say_error(exc))
    return render_template("_list_totals.html", footer=footer, headers=[{"column": c} for c in columns])


def totals_row(entity: Entity, columns: list[Column], query: Query, ctx: Context) -> list[str] | None:
    """The texts of the totals row under a list (one per column, "" where there is none):
    sums of the number and money columns over every row the filters match, money per
    currency. None when no shown column has a total."""
    names = [c.name for c in columns if summable(entity, c.name) is not None]
    if not names:
        return None
    found = totals(service(), entity.name, query, ctx, names)
    if not found:
        return None
    locale = locale_name()
    cells = []
    for column in columns:
        entries = found.get(column.name)
        if entries is None:
            cells.append("")
        elif column.kind == "money":
            cells.append("\n".join(f"{fmt(v, 'money', locale)} {code or ''}".strip() for code, v in entries) or
                         fmt(0, "money", locale))
        else:
            cells.append(fmt(entries[0][1], "decimal" if isinstance(entries[0][1], Decimal) else "", locale))
    return cells


def filter_widgets(entity: Entity, state: ListState, ctx: Context) -> list[dict[str, Any]]:
    """What the filter form shows: one widget per filter, with its current values."""
    given: dict[str, list[str]] = {}
    for key, value in state.params:
        given.setdefault(key, []).append(value)
    widgets = []
    for spec in filters_of(entity):
        widget: dict[str, Any] = {"filter": spec, "values": {p: (given.get(p) or [""])[0] for p in spec.params},
                                  "options": []}
        current = given.get(spec.name, [])
        if spec.kind == "choice":
            widget["options"] = [(o.value, label(o.label, o.value)) for o in spec.field.options
                                 if not o.hidden or o.value in current]
        elif spec.kind == "boolean":
            widget["options"] = [("1", _("Yes")), ("0", _("No"))]
        elif spec.kind == "user":
            widget["options"] = [("mine", _("Mine"))] + [(str(i), name) for i, name in active_users()[:ACTIVE_USERS]]
        elif spec.kind == "link":
            # a search-as-you-type input (as in forms): a list of every record would not scale
            target = model().entities.get(spec.field.to)
            widget["lookup"] = target is not None and not target.hidden
            chosen = [n for n in map(id_or_none, current[:1]) if n is not None]
            widget["title"] = titles_of(spec.field.to, chosen, ctx).get(chosen[0], "") if chosen else ""
        elif spec.kind == "polymorphic":
            widget["options"] = polymorphic_options(spec.field, current[:1], ctx)
        widget["options_html"] = options_html(tuple(widget["options"]), widget["values"].get(spec.name, ""))
        widgets.append(widget)
    return widgets


@lru_cache(maxsize=256)
def options_html(options: tuple[tuple[str, str], ...], chosen: str) -> Markup:
    """The `<option>`s of a filter's select, `chosen` selected: the same few lists (the
    options of a choice, the active users) fill every list page, built once each."""
    return Markup("".join(f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(text)}'
                          "</option>" for value, text in options))


def polymorphic_options(field_: Field, current: list[str], ctx: Context) -> list[tuple[str, str]]:
    """A polymorphic link's filter: its kinds of record, and the record the list is
    filtered by when it came from a record page's "show all" ("Customer · Acme Ltd")."""
    options = kind_choices(field_, every=True)
    for value in current:
        try:
            kind, record_id = field_.type.target(value, field_)
        except FieldValueError:  # read_state refused it already
            continue
        if kind is not None and record_id is not None:
            title = titles_of(kind, [record_id], ctx).get(record_id)
            options.append((value, target_text(kind, record_id, title)))
    return options


# -- bulk delete --------------------------------------------------------------------------------
@bp.post("/e/<entity>/bulk-delete")
def list_bulk_delete(entity: str):
    current = entity_or_404(entity)
    ctx = context()
    raw = request.form.getlist("ids")
    if len(raw) > MAX_BULK:
        return bad_request(_("Select at most %(n)s records at a time.", n=MAX_BULK))
    ids: list[int] = []
    try:
        for value in raw:
            ids.append(_record_id(value, "ids"))
    except BadParameter as exc:
        return bad_request(str(exc))
    ids = list(dict.fromkeys(ids))
    titles = titles_of(current.name, ids, ctx)
    deleted, failed = 0, []
    for record_id in ids:
        try:
            service().delete(current.name, record_id, context=context())
            deleted += 1
        except NotFound:
            failed.append((titles.get(record_id, f"#{record_id}"), _("not found (already deleted?)")))
        except PermissionDenied:
            failed.append((titles.get(record_id, f"#{record_id}"), _("your roles do not allow deleting it")))
        except (ValidationError, ConflictError) as exc:
            failed.append((titles.get(record_id, f"#{record_id}"), error_text(current, exc)))
    session["tailor_list_result"] = {"entity": current.name, "deleted": deleted, "failed": failed[:20],
                                     "more_failed": max(0, len(failed) - 20)}
    return redirect(back_url(current), 303)


def error_text(entity: Entity, exc: Exception) -> str:
    """A service error as a user reads it: field labels instead of names."""
    if isinstance(exc, ValidationError):
        parts = []
        for key, messages in exc.errors.items():
            text = "; ".join(say(m) for m in messages)
            field_ = entity.fields.get(key)
            parts.append(f"{label(field_.label, key)}: {text}" if field_ is not None else
                         (f"{key}: {text}" if key else text))
        return "; ".join(parts)
    if isinstance(exc, ConflictError):
        return _("Someone else changed this record in the meantime; nothing was saved.")
    return say_error(exc)


def back_url(entity: Entity) -> str:
    """The list the form was sent from (its parameters only: never another site)."""
    back = request.form.get("back", "")[:4000]
    return list_url(entity, [(k, v) for k, v in parse_qsl(back) if k != "after"])


# -- saved views --------------------------------------------------------------------------------
# built once: a list page reads its views every time, and building the query cost more than running it
VIEWS_OF = (sa.select(saved_views.c.id, saved_views.c.name, saved_views.c.state)
            .where(saved_views.c.user_id == sa.bindparam("user_id", type_=sa.Integer),
                   saved_views.c.entity == sa.bindparam("entity", type_=sa.String))
            .order_by(saved_views.c.name, saved_views.c.id))


def views_of(entity: Entity) -> list[dict[str, Any]]:
    with WebState.of().service.reading() as conn:
        rows = conn.execute(VIEWS_OF, {"user_id": g.user["id"], "entity": entity.name}).all()
    return [{"id": r.id, "name": r.name, "url": list_url(entity, view_params(r.state))} for r in rows]


def view_params(state: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    state = state if isinstance(state, Mapping) else {}
    items = []
    filters = state.get("filters") if isinstance(state.get("filters"), Mapping) else {}
    for key, values in filters.items():
        for value in values if isinstance(values, list) else [values]:
            items.append((str(key), str(value)))
    if state.get("search"):
        items.append(("q", str(state["search"])))
    if state.get("sort"):
        items.append(("sort", str(state["sort"])))
    if isinstance(state.get("columns"), list) and state["columns"]:
        items.append(("cols", ",".join(str(c) for c in state["columns"])))
    return items


@bp.post("/e/<entity>/views")
def list_view_save(entity: str):
    current = entity_or_404(entity)
    name = request.form.get("name", "").strip()
    if not name or len(name) > 80 or "\x00" in name:
        return bad_request(_("Give the view a name of at most 80 characters."))
    try:
        args = MultiDict(parse_qsl(request.form.get("state", "")[:4000], keep_blank_values=True))
        state = read_state(current, args, g.user["id"])
    except BadParameter as exc:
        return bad_request(str(exc))
    saved = state.saved()
    user_id, now = g.user["id"], datetime.now(UTC)
    engine = write_engine(WebState.of().engine)
    where = (saved_views.c.user_id == user_id, saved_views.c.entity == current.name)
    try:
        with engine.begin() as conn:
            existing = conn.execute(sa.select(saved_views.c.id).where(*where, saved_views.c.name == name)).scalar()
            if existing is not None:
                conn.execute(saved_views.update().where(saved_views.c.id == existing).values(state=saved))
            else:
                count = conn.execute(sa.select(sa.func.count()).select_from(saved_views).where(*where)).scalar_one()
                if count >= MAX_VIEWS:
                    return bad_request(_("You have %(n)s saved views here; delete one first.", n=count))
                conn.execute(saved_views.insert().values(user_id=user_id, entity=current.name, name=name,
                                                         state=saved, created_at=now))
    except IntegrityError:  # the same name saved at the same moment elsewhere
        return page(409, _("Not saved"), _("A view with this name was just saved; try again."))
    return redirect(list_url(current, view_params(saved)), 303)


@bp.post("/e/<entity>/views/<id(bits=32):view_id>/delete")
def list_view_delete(entity: str, view_id: int):
    current = entity_or_404(entity)
    with write_engine(WebState.of().engine).begin() as conn:
        result = conn.execute(saved_views.delete().where(saved_views.c.id == view_id,
                                                         saved_views.c.user_id == g.user["id"],
                                                         saved_views.c.entity == current.name))
    if result.rowcount != 1:
        return page(404, _("Not found"), _("This saved view does not exist or is not yours."))
    return redirect(back_url(current), 303)


# -- CSV and XLSX export -------------------------------------------------------------------------
def plain(column: Column, row: dict, lookups: Lookups, safe: Callable[[str], str] = safe_cell) -> str:
    """A value for a spreadsheet: ISO dates, plain numbers, labels and titles (text through
    `safe`: a CSV's formula-injection guard)."""
    value = row.get(column.name)
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, timedelta):
        return clock_text(value)  # 1:30, which spreadsheets read as a duration
    if displayed(column.field):
        text = column.field.type.display(row, column.field, lookups.locale.split("_")[0])
        if text is not None:
            return safe(one_line(text))
    kind = column.kind
    if kind == "choice":
        return safe(option_badge(column.field, value)[0])
    if kind == "multi":
        return safe(", ".join(option_badge(column.field, v)[0] for v in value))
    if kind == "link":
        return safe(lookups.titles.get(column.field.to, {}).get(value, f"#{value}"))
    if kind == "polymorphic":
        entity_name = row.get(f"{column.name}_entity")
        if not entity_name:
            return f"#{value}"
        title = lookups.titles.get(entity_name, {}).get(value)
        return safe(target_text(entity_name, value, title, lookups.locale.split("_")[0]))
    if column.field is not None and column.field.rollup is not None:
        return rollup_plain(column.field, value)
    if kind == "user":
        return safe(lookups.users.get(value, f"#{value}"))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    return safe(str(value))


def typed(column: Column, row: dict, lookups: Lookups) -> Any:
    """A value for an Excel cell: numbers and money as numbers, dates and datetimes as
    dates (UTC, which the header says), everything else as the CSV's text. Text stays a
    text cell (files.py's writer never makes it a formula), so it needs no apostrophe."""
    value = row.get(column.name)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (bool, timedelta)):  # Excel's TRUE/FALSE and durations: they import again as they were
        return value
    kind = column.kind
    shown = displayed(column.field) and column.field.type.display(row, column.field,
                                                                  lookups.locale.split("_")[0]) is not None
    if not shown and not isinstance(value, bool):
        if kind in NUMBER_KINDS and isinstance(value, (int, float, Decimal)):
            return value
        if column.name == "id" or (kind == "number" and isinstance(value, (int, float, Decimal))):
            return value
        if kind in ("date", "datetime") and isinstance(value, (date, datetime)):
            return value  # files.py writes an aware datetime in UTC
    return plain(column, row, lookups, safe=str) or None


def export_setup(entity: str):
    """The list's columns, query, first page and header for an export, or a 400 page."""
    current = entity_or_404(entity)
    ctx = context()
    service().authorize(current.name, "export", ctx)
    try:
        _state, columns, query = asked(current, ctx)  # every page, from the first (`after` is not in it)
        keys = order_keys(current, query)
        first = service().list(current.name, replace(query, limit=EXPORT_BATCH), ctx, action="export")
        truncated = len(first) == EXPORT_BATCH and service().count(
            current.name, query, ctx, limit=EXPORT_CAP + 1, action="export") > EXPORT_CAP
    except (BadParameter, ValidationError) as exc:
        return None, bad_request(say_error(exc))
    return ExportPlan(current, ctx, columns, query, keys, first, truncated), None


@dataclass
class ExportPlan:
    entity: Entity
    ctx: Context
    columns: list[Column]
    query: Query
    keys: list[tuple[str, bool]]
    first: list[dict]
    truncated: bool

    def header(self, utc: bool = False) -> list[str]:
        header = []
        for column in self.columns:
            text = column.label
            if utc and column.kind == "datetime":
                text += " (UTC)"
            header.append(text)
            if column.kind == "money":
                header.append(f"{column.label} ({_('currency')})")
            elif item_list(column.field):
                header.append(f"{column.label} ({_('others')})")
        return header

    def formats(self) -> list[str | None]:
        """Excel number formats, a cell per header's column: money with two decimals,
        percent, durations (files.NUMBER_FORMATS); None for Excel's own."""
        found: list[str | None] = []
        for column in self.columns:
            kind = column.field.type.name if column.field is not None else column.kind
            found.append(NUMBER_FORMATS.get(kind))
            if column.kind == "money" or item_list(column.field):
                found.append(None)
        return found

    def pages(self) -> Iterable[list[dict]]:
        """The rows a page at a time, at most EXPORT_CAP in all."""
        rows, sent = self.first, 0
        while rows:
            rows = rows[:EXPORT_CAP - sent]
            yield rows
            sent += len(rows)
            if len(rows) < EXPORT_BATCH or sent >= EXPORT_CAP:
                return
            after = tuple(rows[-1][name] for name, _desc in self.keys)
            rows = service().list(self.entity.name, replace(self.query, limit=EXPORT_BATCH, after=after), self.ctx,
                                  action="export")

    def values(self, rows: list[dict], cell: Callable[[Column, dict, Lookups], Any],
               safe: Callable[[str], str]) -> Iterable[list[Any]]:
        lookups = Lookups(self.entity, self.columns, rows, self.ctx)
        for row in rows:
            values = []
            for column in self.columns:
                values.append(cell(column, row, lookups))
                if column.kind == "money":
                    values.append(safe(column.field.type.currency_of(row, column.field) or "") or None)
                elif item_list(column.field):
                    values.append(safe(others_text(column.field, row)) or None)
            yield values

    def respond(self, response: Response, suffix: str) -> Response:
        response.headers["Content-Disposition"] = f'attachment; filename="{self.entity.name}.{suffix}"'
        response.headers["Cache-Control"] = "no-store"
        if self.truncated:
            response.headers["X-Tailor-Truncated"] = str(EXPORT_CAP)
        return response


@bp.get("/e/<entity>/export.csv")
def list_export(entity: str):
    plan, refused = export_setup(entity)
    if plan is None:
        return refused
    header = plan.header()

    def generate():
        buffer = io.StringIO()
        csv.writer(buffer).writerow([safe_cell(h) for h in header])
        yield "\ufeff" + buffer.getvalue()  # the BOM: Excel then reads UTF-8 (Chinese) right
        for rows in plan.pages():
            buffer = io.StringIO()
            csv.writer(buffer).writerows(plan.values(rows, plain, safe_cell))
            yield buffer.getvalue()

    return plan.respond(Response(stream_with_context(generate()), content_type="text/csv; charset=utf-8"), "csv")


@bp.get("/e/<entity>/export.xlsx")
def list_export_xlsx(entity: str):
    """The list as an Excel workbook: openpyxl's write-only mode streams the rows to a
    temporary file (flat memory however many rows), which is then sent in chunks."""
    plan, refused = export_setup(entity)
    if plan is None:
        return refused
    out = tempfile.TemporaryFile()
    try:
        target = xlsx_writer("xlsx", out, label(plan.entity.plural, plan.entity.name))
        target.row([safe_cell(h) for h in plan.header(utc=True)])
        formats = plan.formats()
        for rows in plan.pages():
            for values in plan.values(rows, typed, str):
                target.row(values, formats)
        target.close()
        out.seek(0)
    except BaseException:
        out.close()
        raise

    def chunks():
        with out:
            while chunk := out.read(64 * 1024):
                yield chunk

    response = Response(chunks(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return plan.respond(response, "xlsx")


def count_text(total: int, capped: bool) -> str:
    if capped:
        return _("%(n)s+ records", n=COUNT_CAP)
    return ngettext("%(num)s record", "%(num)s records", total)
