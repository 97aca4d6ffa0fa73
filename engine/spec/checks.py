"""Semantic checks of the merged spec: everything JSON Schema cannot say.

Names, references between entities and fields, option values, defaults, ranges, patterns,
autonumber formats, layouts, expressions (type-checked against the entity's fields) and
cycles between computed fields. Every problem is collected with its YAML position; the
compiler runs only on a spec with no problems.

The compiled expressions are kept (`SpecChecker.expressions`) so the compiler does not
parse them twice.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as PG_RESERVED
from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer
from sqlalchemy.sql.compiler import RESERVED_WORDS as SQL_RESERVED

from ..errors import Position, Problems, did_you_mean
from ..expr import Env
from ..fields.base import FieldType, FieldValueError
from ..fields.special import autonumber_problem
from ..model.constants import STANDARD_FIELDS, STANDARD_SORTABLE
from ..permissions.roles import check_roles
from ..reports.checks import ReportChecker
from ..reports.dashboards import DashboardChecker
from ..workflows.checks import WorkflowChecker
from .expressions import USER_VARIABLES, ExpressionChecks
from .labels import check_labels
from .link_rules import LinkRuleChecks
from .project import ProjectSpec, option_value
from .texts import check_texts
from .yamlload import PosDict, PosList

SQL_KEYWORDS = frozenset(SQL_RESERVED) | frozenset(PG_RESERVED) | frozenset(SQLiteIdentifierPreparer.reserved_words)
RESERVED_NAMES = frozenset(STANDARD_FIELDS) | {"user", "record", "parent_id", "position", "source_id",
                                               "target_id", "true", "false", "null", "none"}
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
EXPRESSION_KEYS = ("visible_when", "required_when", "readonly_when")
MAX_IDENTIFIER = 63


class SpecChecker(ExpressionChecks):
    def __init__(self, spec: ProjectSpec, field_types: Mapping[str, FieldType], functions,
                 validators: Mapping[str, Any], problems: Problems):
        self.spec = spec
        self.types = field_types
        self.functions = functions
        self.validators = validators
        self.problems = problems
        self.expressions: dict[tuple, Any] = {}
        self.envs: dict[str, Env] = {}  # per entity, reused by the compiler
        self.known_options = frozenset(o for t in field_types.values() for o in t.allowed_options)
        self.actions: tuple[str, ...] = ()  # actions plugins add (tailor_actions)
        self.resolvers: dict[str, Any] = {}  # approver resolvers by name (tailor_approver_resolvers)
        self.workflow_actions: dict[str, Any] = {}  # workflow actions by name (tailor_workflow_actions)

    # -- helpers -------------------------------------------------------------------------
    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        self.problems.add(code, message, where, hint)

    def check_name(self, name: str, where: Position, what: str) -> bool:
        if not isinstance(name, str) or not NAME_RE.match(name):
            return False  # the JSON Schema check already reported it (E304)
        if keyword.iskeyword(name) or keyword.iskeyword(name.capitalize()):
            self.add("E302", f"'{name}' is a keyword of the expression language and cannot be {_article(what)} name",
                     where, f"try '{what}_{name}'")
            return False
        if name in RESERVED_NAMES or name.startswith("tailor_"):
            self.add("E302", f"'{name}' is reserved by the engine and cannot be {_article(what)} name", where,
                     f"try '{what}_{name}' or a more specific name")
            return False
        if name in SQL_KEYWORDS:
            suggestion = {"order": "sales_order", "group": "customer_group", "user": "member"}.get(name, f"{name}_value")
            self.add("E303", f"'{name}' is an SQL keyword and cannot be {_article(what)} name", where,
                     f"try '{suggestion}'")
            return False
        return True

    # -- entry point ---------------------------------------------------------------------
    def run(self) -> None:
        settings = self.spec.settings
        languages = settings.get("languages") or ["en"]
        default_language = settings.get("default_language")
        if default_language and isinstance(languages, list) and default_language not in languages:
            self.add("E204", f"default_language '{default_language}' is not among languages {languages}",
                     settings.position_of("default_language"))
        zone = settings.get("timezone")
        if isinstance(zone, str) and not known_zone(zone):
            self.add("E204", f"timezone '{zone}' is not a time zone name", settings.position_of("timezone"),
                     "an IANA name such as Asia/Shanghai, Europe/Berlin or UTC")
        menu = settings.get("menu")
        if isinstance(menu, PosList):
            for group in menu:
                if isinstance(group, PosDict) and isinstance(group.get("entities"), PosList):
                    self.check_entity_refs(group["entities"], "menu")
        # A document that broke its JSON Schema may hold values of the wrong type that the
        # checks below cannot digest; those problems are already reported, so a check that
        # trips over such a value is skipped rather than turned into a traceback.
        shape_problems = any(p.code[:2] in ("E1", "E2") for p in self.problems.items)
        self.check_project_currencies()
        for name, entity in self.spec.entities.items():
            try:
                self.check_entity(name, entity)
            except (TypeError, AttributeError, ValueError, KeyError, ArithmeticError):
                if not shape_problems:
                    raise
        try:
            self.check_rollups()
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        try:  # transitions are actions roles may grant: check workflows first
            transitions = WorkflowChecker(self, self.resolvers, self.workflow_actions).run(self.spec.workflows)
            self.actions = tuple(dict.fromkeys((*self.actions, *transitions)))
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        try:
            LinkRuleChecks(self).run()
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        try:
            check_roles(self, self.spec.roles, self.actions)
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        try:
            ReportChecker(self).run(self.spec.reports)
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        try:
            DashboardChecker(self).run(self.spec.dashboards)
        except (TypeError, AttributeError, ValueError, KeyError):
            if not shape_problems:
                raise
        if isinstance(languages, list):
            check_labels(self.spec.entities, languages, self.add)
            check_texts(self.spec, languages, self.add)

    def check_entity_refs(self, names: PosList, what: str) -> None:
        for i, ref in enumerate(names):
            if ref not in self.spec.entities:
                self.add("E306", f"{what} names unknown entity '{ref}'", names.position_of(i),
                         did_you_mean(ref, self.spec.entities))

    def check_entity(self, name: str, entity: PosDict) -> None:
        where = entity.position_of("entity")
        self.check_name(name, where, "entity")
        renamed = entity.get("renamed_from")
        if renamed and renamed in self.spec.entities:
            self.add("E605", f"entity '{name}' is renamed_from '{renamed}', which is still an entity",
                     entity.position_of("renamed_from"), "remove one of them")
        fields = entity.get("fields") if isinstance(entity.get("fields"), PosDict) else PosDict(pos=entity.pos)
        if not fields and not entity.get("hidden"):
            self.add("E203", f"entity '{name}' has no fields", where, "add 'fields:' with at least one field")
        self.check_fields(name, fields, where, parent=None)
        env = self.envs[name] = self.env_for(fields)
        self.check_expressions(name, fields, env)
        self.check_computed_cycles(name, fields)
        self.check_layout(name, entity, fields)

    def check_fields(self, entity: str, fields: PosDict, where: Position, parent: str | None) -> None:
        renamed_seen: dict[str, str] = {}
        for fname, fspec in fields.items():
            fpos = fields.position_of(fname, of_key=True)
            if not self.check_name(fname, fpos, "field"):
                continue
            if not isinstance(fspec, PosDict):
                continue
            ftype_name = fspec.get("type")
            if ftype_name is None:
                typed = [n for n, f in fields.items() if isinstance(f, PosDict) and f.get("type")]
                self.add("E604", f"field '{fname}' has no type and no base project defines it", fpos,
                         did_you_mean(fname, typed) or "give it a 'type:' to add it as a new field")
                continue
            ftype = self.types.get(ftype_name)
            if ftype is None:
                self.add("E301", f"unknown field type '{ftype_name}'", fspec.position_of("type"),
                         did_you_mean(ftype_name, self.types) or f"known types: {', '.join(sorted(self.types))}")
                continue
            length = len(entity) + 2 + len(fname)
            if ftype.storage == "table" and length > MAX_IDENTIFIER:
                self.add("E310", f"table '{entity}__{fname}' would be {length} characters (at most {MAX_IDENTIFIER})",
                         fpos, "shorten the entity or the field name")
            if parent and (ftype.storage == "table" or ftype.derived or not ftype.allowed_in_rows):
                self.add("E407", f"a '{ftype_name}' field cannot be inside the rows of '{parent}'", fpos)
            for key in ("encrypted", "mask"):  # searched, rotated and masked as fields of the record only
                if parent and fspec.get(key):
                    self.add("E407", f"'{key}' does not apply inside the rows of '{parent}'",
                             fspec.position_of(key, of_key=True))
            self.check_field_options(entity, fname, fspec, ftype)
            if ftype.name == "money" and "currency_field" in fspec:
                self.check_currency_field(fname, fspec, fields)
            for suffix in ftype.part_types(fspec):
                part = f"{fname}_{suffix}"
                if len(part) > MAX_IDENTIFIER:
                    self.add("E310", f"{ftype.name} field '{fname}' needs a column '{part}' longer than "
                             f"{MAX_IDENTIFIER} characters", fpos, "shorten the field name")
                if part in fields:
                    self.add("E605", f"field '{part}' clashes with the '{suffix}' column of {ftype.name} field "
                             f"'{fname}'", fields.position_of(part, of_key=True), "rename one of them")
            renamed = fspec.get("renamed_from")
            if renamed:
                rpos = fspec.position_of("renamed_from")
                if renamed in fields:
                    self.add("E605", f"field '{fname}' is renamed_from '{renamed}', which is still a field", rpos,
                             "remove the old field, or the renamed_from")
                elif renamed in renamed_seen:
                    self.add("E605", f"fields '{renamed_seen[renamed]}' and '{fname}' are both renamed_from '{renamed}'", rpos)
                renamed_seen[renamed] = fname
            for sub_key in ("fields", "payload"):
                sub = fspec.get(sub_key)
                if isinstance(sub, PosDict) and sub_key in ftype.allowed_options:
                    self.check_fields(entity, sub, fpos, parent=fname)

    def check_field_options(self, entity: str, fname: str, fspec: PosDict, ftype: FieldType) -> None:
        for key in fspec:
            if key not in ftype.allowed_options and key in self.known_options:  # unknown keys: E201
                self.add("E407", f"'{key}' is not an option of a {ftype.name} field", fspec.position_of(key, of_key=True),
                         did_you_mean(key, ftype.allowed_options))
        not_for_storage = {"table": ("index", "default", "unique"), "none": ("index", "unique")}
        for key in not_for_storage.get(ftype.storage, ()):
            if fspec.get(key) not in (None, False):
                self.add("E407", f"'{key}' does not apply to a {ftype.name} field", fspec.position_of(key, of_key=True))
        if ftype.name in ("computed", "autonumber") and "default" in fspec:
            self.add("E407", f"a {ftype.name} field has no default: its value is {'computed' if ftype.name == 'computed' else 'assigned'}",
                     fspec.position_of("default", of_key=True))
        if fspec.get("required") and fspec.get("on_delete") == "set_null":
            self.add("E407", "a required link cannot use on_delete: set_null (the field would become empty)",
                     fspec.position_of("on_delete"), "use restrict (the default for required links) or cascade")
        precision, scale = fspec.get("precision"), fspec.get("scale")
        if isinstance(precision, int) and isinstance(scale, int) and scale > precision:
            self.add("E403", f"scale {scale} is greater than precision {precision}", fspec.position_of("scale"))
        if ftype.name == "money" and not fspec.get("currency_field"):
            self.check_currencies(fspec)
        for key in ftype.required_options:
            if key not in fspec and not (key == "options" and "option_set" in fspec):  # an unknown set: E312
                self.add("E408", f"a {ftype.name} field needs '{key}'", fspec.pos, _NEEDS_HINT.get(key))
        if fspec.get("unique") and not ftype.can_be_unique:
            self.add("E407", f"a {ftype.name} field cannot be unique", fspec.position_of("unique", of_key=True))
        target = fspec.get("to")
        if target is not None and "to" in ftype.allowed_options:
            several = ftype.name == "polymorphic_link"
            if several != isinstance(target, PosList):
                self.add("E202", f"'to' of a {ftype.name} field is {'a list of entities' if several else 'one entity'}",
                         fspec.position_of("to"), "to: [customer, contact]" if several else "to: customer")
            elif not several and target not in self.spec.entities:
                self.add("E306", f"field '{fname}' links to unknown entity '{target}'", fspec.position_of("to"),
                         did_you_mean(target, self.spec.entities))
            elif several:
                for i, name in enumerate(target):
                    if name not in self.spec.entities:
                        self.add("E306", f"field '{fname}' links to unknown entity '{name}'", target.position_of(i),
                                 did_you_mean(name, self.spec.entities))
                    elif name in target[:i]:
                        self.add("E406", f"entity '{name}' is listed twice", target.position_of(i))
        options = fspec.get("options")
        values: list[Any] = []
        if isinstance(options, PosList):
            for i, option in enumerate(options):
                value = option_value(option)
                value = str(value) if isinstance(value, (str, int)) else value
                if value in values:
                    self.add("E406", f"option '{value}' is listed twice", options.position_of(i))
                values.append(value)
        pattern = fspec.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                self.add("E404", f"invalid regular expression: {exc}", fspec.position_of("pattern"))
        fmt = fspec.get("format")
        if isinstance(fmt, str) and ftype.name == "autonumber":
            problem = autonumber_problem(fmt)
            if problem:
                self.add("E405", f"invalid autonumber format '{fmt}': {problem}", fspec.position_of("format"),
                         "for example ORD-{YYYY}-{####}")
        self.check_replaced_options(fspec, [str(v) for v in values], options)
        probe = _Probe(fspec, ftype, [str(v) for v in values])
        bounds = {}
        for key in ("min", "max"):
            if key in fspec and key in ftype.allowed_options:
                try:
                    bounds[key] = ftype.coerce(fspec[key], probe)
                except (FieldValueError, TypeError) as exc:
                    self.add("E402", f"'{key}' does not fit this {ftype.name} field: {exc}", fspec.position_of(key))
        probe.min, probe.max = bounds.get("min"), bounds.get("max")
        hidden = {str(option_value(o)) for o in (options or []) if isinstance(o, dict) and o.get("hidden")}
        if bounds.get("min") is not None and bounds.get("max") is not None:
            try:
                if bounds["min"] > bounds["max"]:
                    self.add("E403", f"min {fspec['min']} is greater than max {fspec['max']}", fspec.position_of("min"))
            except TypeError:
                pass
        if "min_length" in fspec and "max_length" in fspec and fspec["min_length"] > fspec["max_length"]:
            self.add("E403", "min_length is greater than max_length", fspec.position_of("min_length"))
        default = fspec.get("default")
        if default is not None and not (isinstance(default, PosDict) and "expression" in default):
            if isinstance(default, PosDict):
                self.add("E402", "a default is a value or {expression: ...}", fspec.position_of("default"))
            elif isinstance(default, list) != (ftype.name in ("multichoice", "tags")):
                self.add("E402", f"a {ftype.name} default is {'a list' if not isinstance(default, list) else 'one value'}",
                         fspec.position_of("default"))
            elif values and ftype.name in ("choice", "multichoice"):
                wanted = default if isinstance(default, list) else [default]
                for item in wanted:
                    if str(item) not in [str(v) for v in values]:
                        self.add("E401", f"default '{item}' is not one of the options", fspec.position_of("default"),
                                 did_you_mean(str(item), [str(v) for v in values]) or f"options: {', '.join(map(str, values))}")
                    elif str(item) in hidden:
                        self.add("E401", f"default '{item}' is a hidden option", fspec.position_of("default"),
                                 "choose another default, or stop hiding the option")
            elif ftype.storage == "column" and ftype.name not in ("computed", "autonumber"):
                try:
                    coerced = ftype.coerce(default, probe)
                    if coerced is not None and hasattr(ftype, "validate"):
                        for message in ftype.validate(coerced, probe):
                            self.add("E402", f"default {default!r}: {message}", fspec.position_of("default"))
                except (FieldValueError, TypeError) as exc:
                    self.add("E402", f"default {default!r} does not fit this {ftype.name} field: {exc}",
                             fspec.position_of("default"))
        for i, name in enumerate(fspec.get("validators") or []):
            if name not in self.validators:
                self.add("E204", f"unknown validator '{name}'", fspec["validators"].position_of(i),
                         did_you_mean(name, self.validators) or "validators come from plugins (tailor_validators)")
        ftype.check_spec(fspec, lambda code, message, key=None, hint=None: self.add(
            code, message, fspec.position_of(key) if key else fspec.pos, hint))

    def check_replaced_options(self, fspec: PosDict, values: list[str], options: Any) -> None:
        """`replaced_options: {old: new}`: old values are no longer options; new ones are."""
        replaced = fspec.get("replaced_options")
        if not isinstance(replaced, PosDict):
            return
        hidden = {str(option_value(o)) for o in (options or []) if isinstance(o, dict) and o.get("hidden")}
        for old, new in replaced.items():
            if str(old) in values:
                self.add("E409", f"'{old}' is still an option: replaced_options is for values that are not",
                         replaced.position_of(old, of_key=True),
                         "remove it from replaced_options, or from the options (hide it to keep it on records)")
            if new is not None and (str(new) not in values or str(new) in hidden):
                what = "a hidden option" if str(new) in hidden else "not one of the options"
                self.add("E409", f"replaced_options maps '{old}' to '{new}', which is {what}",
                         replaced.position_of(old), did_you_mean(str(new), values) or
                         f"options: {', '.join(v for v in values if v not in hidden)}; null empties the value")

    def check_currencies(self, fspec: PosDict) -> None:
        """A money field's default currency is one of its currencies: its own `currencies`,
        else the project's (E401)."""
        settings = self.spec.settings
        currency, currencies = fspec.get("currency"), fspec.get("currencies")
        default_currency = currency or settings.get("currency") or "CNY"
        if isinstance(currencies, list) and currencies:
            if default_currency not in currencies:
                self.add("E401", f"default currency {default_currency} is not among currencies {list(currencies)}",
                         fspec.position_of("currency" if currency else "currencies"),
                         "set 'currency:' to one of them")
            return
        project = settings.get("currencies")
        if currency and isinstance(project, list) and project and currency not in project:
            self.add("E401", f"currency {currency} is not among the project's currencies {list(project)}",
                     fspec.position_of("currency"), "add it to 'currencies:' in tailor.yaml, or give the field "
                     "'currencies:' of its own")

    def check_project_currencies(self) -> None:
        """The project's `currency` is one of its `currencies` (E401)."""
        settings = self.spec.settings
        project = settings.get("currencies")
        currency = settings.get("currency") or "CNY"
        if isinstance(project, list) and project and currency not in project:
            self.add("E401", f"currency {currency} is not among the project's currencies {list(project)}",
                     settings.position_of("currency" if settings.get("currency") else "currencies"),
                     "set 'currency:' to one of them" if settings.get("currency") else
                     f"add {currency} (the default currency) or set 'currency:'")

    def check_currency_field(self, fname: str, fspec: PosDict, fields: PosDict) -> None:
        """`currency_field: OTHER`: a choice or string field beside this one (E307, E407),
        instead of `currency` and `currencies` (E407); a choice offers currency codes (E407)."""
        other = fspec.get("currency_field")
        if not isinstance(other, str):
            return
        where = fspec.position_of("currency_field")
        for key in ("currency", "currencies"):
            if key in fspec:
                self.add("E407", f"'{key}' does not go with currency_field: the currency of '{fname}' is the "
                         f"value of '{other}'", fspec.position_of(key, of_key=True),
                         f"remove '{key}', or give the currencies as options of '{other}'")
        target = fields.get(other)
        if other == fname or not isinstance(target, PosDict):
            self.add("E307", f"currency_field names unknown field '{other}'", where,
                     did_you_mean(other, [n for n in fields if n != fname]) or
                     "name a choice or string field of the same entity (or row) holding an ISO 4217 code")
            return
        kind = target.get("type")
        if kind not in ("choice", "string"):
            self.add("E407", f"currency_field '{other}' is {_article(str(kind))} field; it must be a choice or string field", where,
                     f"for example {other}: {{type: choice, options: [CNY, USD, EUR]}}")
            return
        options = target.get("options")
        if kind == "choice" and isinstance(options, PosList):
            for i, option in enumerate(options):
                value = option_value(option)
                if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
                    self.add("E407", f"option '{value}' of '{other}' is not a currency code (ISO 4217, e.g. USD), "
                             f"which currency_field of '{fname}' needs", options.position_of(i))

    # -- expressions -----------------------------------------------------------------------
    def env_for(self, fields: PosDict, with_user: bool = True) -> Env:
        return Env(fields=self.env_types(fields), variables={"user": USER_VARIABLES} if with_user else {},
                   functions=self.functions)

    def env_types(self, fields: PosDict) -> dict[str, Any]:
        """The names expressions on these fields see, with their types (as Env takes them)."""
        types: dict[str, Any] = dict(STANDARD_FIELDS)
        for fname, fspec in fields.items():
            if not isinstance(fspec, PosDict):
                continue
            ftype = self.types.get(fspec.get("type"))
            if ftype is None:
                continue
            if ftype.name == "lines":
                sub = fspec.get("fields") if isinstance(fspec.get("fields"), PosDict) else {}
                types[fname] = {n: self.value_type(s) for n, s in sub.items()
                                if isinstance(s, PosDict) and self.value_type(s)}
            elif ftype.name == "links":
                continue
            else:
                vt = self.value_type(fspec)
                if vt:
                    types[fname] = vt
                for suffix, part_type in ftype.part_types(fspec).items():
                    types[f"{fname}_{suffix}"] = part_type
        return types

    def value_type(self, fspec: Mapping) -> str | None:
        ftype = self.types.get(fspec.get("type"))
        if ftype is None:
            return None
        if ftype.name == "computed":
            return {"string": "string", "boolean": "boolean", "date": "date",
                    "datetime": "datetime"}.get(fspec.get("returns") or "decimal", "number")
        if ftype.name == "rollup":
            return {"date": "date", "datetime": "datetime"}.get(self.rollup_returns(fspec) or "", "number")
        return ftype.value_type if ftype.value_type not in ("lines",) else None

    def rollup_source(self, fspec: Mapping) -> tuple[str | None, PosDict | None, PosDict | None]:
        """(related entity, its fields, its link field's spec) of a rollup's `from`, as far as
        they exist."""
        source = fspec.get("from")
        if not isinstance(source, str) or "." not in source:
            return None, None, None
        child, _, link = source.partition(".")
        entity = self.spec.entities.get(child)
        fields = entity.get("fields") if isinstance(entity, PosDict) else None
        if not isinstance(fields, PosDict):
            return child, None, None
        link_spec = fields.get(link)
        return child, fields, link_spec if isinstance(link_spec, PosDict) else None

    def rollup_returns(self, fspec: Mapping) -> str | None:
        """What a rollup holds: integer (count), decimal (sum, avg, min/max of numbers), or
        the date or date-time of a min/max over one; None when its field is unknown."""
        aggregate = fspec.get("aggregate")
        if aggregate == "count":
            return "integer"
        _child, fields, _link = self.rollup_source(fspec)
        target = fields.get(fspec.get("field")) if fields is not None and isinstance(fspec.get("field"), str) else None
        if not isinstance(target, PosDict) or target.get("type") == "rollup":
            return None
        kind = self.value_type(target)
        if aggregate in ("min", "max") and kind in ("date", "datetime"):
            return kind
        return "decimal" if kind == "number" else None

    def check_rollups(self) -> None:
        """Rollups, once every entity is known: `from` names a related entity and its link
        to this one, `field` something the aggregate applies to, `where` a condition that
        translates to SQL and depends on nothing but the related record."""
        for entity_name, entity in self.spec.entities.items():
            fields = entity.get("fields") if isinstance(entity, PosDict) else None
            for fname, fspec in (fields.items() if isinstance(fields, PosDict) else ()):
                if isinstance(fspec, PosDict) and fspec.get("type") == "rollup":
                    self.check_rollup(entity_name, fname, fspec)

    def check_rollup(self, entity: str, fname: str, fspec: PosDict) -> None:
        source = fspec.get("from")
        if not isinstance(source, str):
            return  # the JSON Schema check reported it
        child, fields, link = self.rollup_source(fspec)
        where = fspec.position_of("from")
        if child not in self.spec.entities:
            self.add("E306", f"rollup '{fname}' counts unknown entity '{child}'", where,
                     did_you_mean(str(child), self.spec.entities) or "from: ENTITY.LINK_FIELD, e.g. opportunity.customer")
            return
        link_name = source.partition(".")[2]
        if fields is None or link is None:
            self.add("E307", f"entity '{child}' has no field '{link_name}'", where,
                     did_you_mean(link_name, fields or {}) or f"name {child}'s link to {entity}")
            return
        to = link.get("to")
        points_here = (link.get("type") == "link" and to == entity) or             (link.get("type") == "polymorphic_link" and isinstance(to, list) and entity in to)
        if not points_here:
            self.add("E410", f"{child}.{link_name} is not a link to {entity}", where,
                     f"a rollup aggregates the {child} records whose link points at this {entity}")
            return
        aggregate, target = fspec.get("aggregate"), fspec.get("field")
        if aggregate == "count":
            if target is not None:
                self.add("E410", "a count counts records: it takes no 'field'", fspec.position_of("field", of_key=True),
                         "remove 'field', or use sum, avg, min or max")
        elif target is None:
            self.add("E410", f"a {aggregate} needs the 'field' of {child} it aggregates", fspec.pos,
                     "e.g. field: amount")
        elif target not in fields:
            self.add("E307", f"entity '{child}' has no field '{target}'", fspec.position_of("field"),
                     did_you_mean(str(target), fields))
        elif self.rollup_returns(fspec) is None:
            kinds = "numbers" if aggregate in ("sum", "avg") else "numbers, dates or date-times"
            self.add("E410", f"a {aggregate} applies to {kinds}: {child}.{target} is not one", fspec.position_of("field"))
        condition = fspec.get("where")
        if isinstance(condition, str):
            env = self.envs.get(child) or self.env_for(fields)
            expression = self.compile((entity, fname, "where"), fspec, "where", env, "boolean")
            if expression is not None and (expression.variables or {"now", "today"} & set(expression.functions)):
                self.add("E410", "a rollup's condition may depend only on the related record (not on the user "
                         "or the date: the stored value would go stale)", fspec.position_of("where"))
                self.expressions.pop((entity, fname, "where"), None)
            elif expression is not None and not expression.sql_supported:
                self.add("E410", "a rollup's condition must translate to SQL (no child rows, no Python-only "
                         "functions)", fspec.position_of("where"))
                self.expressions.pop((entity, fname, "where"), None)
            elif expression is not None and isinstance(fields, PosDict) and self.refuse_encrypted(
                    expression, fields, fspec.position_of("where"),
                    "a rollup's condition runs in SQL and cannot compare",
                    "the database holds only its ciphertext: filter on another field"):
                self.expressions.pop((entity, fname, "where"), None)

    def check_expressions(self, entity: str, fields: PosDict, env: Env) -> None:
        for fname, fspec in fields.items():
            if not isinstance(fspec, PosDict) or fspec.get("type") not in self.types:
                continue
            for key in EXPRESSION_KEYS:
                self.compile((entity, fname, key), fspec, key, env, "boolean")
            if fspec.get("type") == "computed":
                expression = self.compile((entity, fname, "expression"), fspec, "expression", env,
                                          self.value_type(fspec))
                if expression is not None and fspec.get("stored", True) is not False:
                    self.refuse_encrypted(expression, fields, fspec.position_of("expression"),
                                          f"computed field '{fname}' would store the clear text of",
                                          "add 'stored: false' (worked out when read), or compute from other fields")
            self.check_default_expression(entity, (fname,), fspec, env)
            sub = fspec.get("fields")
            if fspec.get("type") == "lines" and isinstance(sub, PosDict):
                sub_env = self.env_for(sub)
                for sname, sspec in sub.items():
                    if not isinstance(sspec, PosDict):
                        continue
                    if sspec.get("type") == "computed":
                        self.compile((entity, fname, sname, "expression"), sspec, "expression", sub_env,
                                     self.value_type(sspec))
                    self.check_default_expression(entity, (fname, sname), sspec, sub_env)
                    for key in EXPRESSION_KEYS:
                        self.compile((entity, fname, sname, key), sspec, key, sub_env, "boolean")
                self.check_computed_cycles(entity, sub, prefix=(fname,))
        spec = self.spec.entities[entity]
        rules = spec.get("rules")
        if isinstance(rules, PosList):
            named: dict[str, Position] = {}
            for i, rule in enumerate(rules):
                if not isinstance(rule, PosDict):
                    continue
                rule_name = rule.get("name")
                if isinstance(rule_name, str):
                    if rule_name in named:
                        self.add("E311", f"rule name '{rule_name}' is used twice in entity '{entity}'",
                                 rule.position_of("name"), f"first used at line {named[rule_name].line}")
                    named.setdefault(rule_name, rule.position_of("name"))
                self.compile((entity, "rule", i, "check"), rule, "check", env, "boolean")
                self.compile((entity, "rule", i, "when"), rule, "when", env, "boolean")
                if rule.get("field") and rule["field"] not in fields:
                    self.add("E307", f"rule names unknown field '{rule['field']}'", rule.position_of("field"),
                             did_you_mean(rule["field"], fields))

    def check_default_expression(self, entity: str, path: tuple, fspec: PosDict, env: Env) -> None:
        default = fspec.get("default")
        if not (isinstance(default, PosDict) and "expression" in default):
            return
        if not isinstance(default["expression"], str):
            self.add("E202", "a default expression is text, e.g. {expression: \"today()\"}",
                     default.position_of("expression"))
            return
        expression = self.compile((entity, *path, "default"), default, "expression", env, self.value_type(fspec))
        if expression is not None and not (len(path) == 1 and fspec.get("encrypted") is True):
            fields = self.spec.entities[entity].get("fields")
            if isinstance(fields, PosDict):
                self.refuse_encrypted(expression, fields, default.position_of("expression"),
                                      f"the default of '{'.'.join(path)}' would copy the clear text of",
                                      "encrypt this field too, or take the default from other fields")


    def check_computed_cycles(self, entity: str, fields: PosDict, prefix: tuple = ()) -> None:
        graph = {}
        for fname in fields:
            expression = self.expressions.get((entity, *prefix, fname, "expression"))
            if expression is not None:
                graph[fname] = set(expression.fields)
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            for dep in sorted(graph.get(node, ())):
                if dep not in graph:
                    continue
                if state.get(dep) == 1:
                    cycle = [*path[path.index(dep):], dep] if dep in path else [node, dep]
                    self.add("E603", f"computed fields depend on each other: {' -> '.join(cycle)}",
                             fields[node].position_of("expression"), "one of them must not use the other")
                elif dep not in state:
                    visit(dep, [*path, dep])
            state[node] = 2

        for node in sorted(graph):
            if node not in state:
                visit(node, [node])

    # -- layout ----------------------------------------------------------------------------
    def check_title(self, entity: str, spec: PosDict, fields: PosDict) -> None:
        """`title:` names a field, or is an expression giving a string (compiled here)."""
        title = spec.get("title")
        if not isinstance(title, str):
            return
        if NAME_RE.match(title):
            if title not in fields:
                self.add("E307", f"title names unknown field '{title}'", spec.position_of("title"),
                         did_you_mean(title, fields) or "or write an expression: \"first_name + ' ' + last_name\"")
            elif isinstance(fields[title], PosDict) and fields[title].get("type") in ("lines", "links"):
                self.add("E407", f"a {fields[title].get('type')} field cannot be the title", spec.position_of("title"),
                         "name a field holding one value, or write an expression")
            return
        # without `user`: a title names a record the same way for everyone (lists,
        # notifications, search results)
        expression = self.compile((entity, "title"), spec, "title", self.env_for(fields, with_user=False), "string")
        rows = sorted(n for n in expression.fields if isinstance(fields.get(n), PosDict)
                      and fields[n].get("type") in ("lines", "links")) if expression is not None else []
        if rows:
            self.add("E506", f"a title cannot read child rows ('{rows[0]}'): it names every row of a list",
                     spec.position_of("title"), "use a stored computed field, e.g. total: sum(lines.amount)")
            self.expressions.pop((entity, "title"), None)

    def check_agenda(self, entity: str, spec: PosDict, fields: PosDict) -> None:
        """`agenda:` (the owner's home lists what is due): `due` a date or datetime field;
        `open` a condition the home page runs in SQL, so on stored fields only."""
        agenda = spec.get("agenda")
        if not isinstance(agenda, PosDict):
            return
        due = agenda.get("due")
        if isinstance(due, str) and due not in fields:
            self.add("E307", f"agenda due names unknown field '{due}'", agenda.position_of("due"),
                     did_you_mean(due, fields))
        elif isinstance(due, str) and isinstance(fields[due], PosDict) and fields[due].get("type") not in (
                "date", "datetime"):
            self.add("E407", f"agenda due field '{due}' must be a date or datetime field",
                     agenda.position_of("due"), "name the field holding when the record is due")
        expression = self.compile((entity, "agenda", "open"), agenda, "open", self.env_for(fields, with_user=False),
                                  "boolean")
        if expression is None:
            return
        unstored = sorted(n for n in expression.fields if isinstance(fields.get(n), PosDict)
                          and (fields[n].get("type") in ("lines", "links")
                               or (fields[n].get("type") == "computed" and fields[n].get("stored") is False)))
        if unstored or not expression.sql_supported:
            why = f"'{unstored[0]}' is not stored in the table" if unstored else "it uses a function SQL cannot run"
            self.add("E506", f"agenda open cannot be computed in SQL: {why}", agenda.position_of("open"),
                     "the home page finds what is due in the database: use stored fields")
            self.expressions.pop((entity, "agenda", "open"), None)
        elif self.refuse_encrypted(expression, fields, agenda.position_of("open"), "agenda open would compare",
                                   "the database holds only its ciphertext: use another field"):
            self.expressions.pop((entity, "agenda", "open"), None)

    def check_layout(self, entity: str, spec: PosDict, fields: PosDict) -> None:
        known = set(fields) | set(STANDARD_FIELDS)
        self.check_title(entity, spec, fields)
        stage_name = spec.get("stage")
        if stage_name is not None and stage_name not in fields:
            self.add("E307", f"stage names unknown field '{stage_name}'", spec.position_of("stage"),
                     did_you_mean(stage_name, fields))
        stage = spec.get("stage")
        if stage in fields and isinstance(fields[stage], PosDict) and fields[stage].get("type") != "choice":
            self.add("E407", f"stage field '{stage}' must be a choice field", spec.position_of("stage"))
        self.check_agenda(entity, spec, fields)
        listing = spec.get("list")
        if isinstance(listing, PosDict):
            for key in ("columns", "filters", "search", "sort"):
                items = listing.get(key)
                if isinstance(items, str):
                    items = PosList([items], pos=listing.position_of(key))
                    items.item_pos = [listing.position_of(key)]
                if not isinstance(items, PosList):
                    continue
                for i, ref in enumerate(items):
                    name = ref.lstrip("-") if isinstance(ref, str) else ref
                    if name not in known:
                        self.add("E307", f"list {key} names unknown field '{name}'", items.position_of(i),
                                 did_you_mean(name, known))
                    elif key == "sort" and name in STANDARD_FIELDS and name not in STANDARD_SORTABLE:
                        self.add("E407", f"cannot sort on '{name}'", items.position_of(i),
                                 f"standard columns to sort on: {', '.join(STANDARD_SORTABLE)}")
                    elif key == "search" and (name not in fields or not isinstance(fields[name], PosDict)
                                              or self.value_type(fields[name]) != "string"):
                        self.add("E407", f"search looks in text fields; '{name}' is not one", items.position_of(i))
                    elif key in ("sort", "filters") and name in fields and isinstance(fields[name], PosDict):
                        ftype = self.types.get(fields[name].get("type"))
                        if ftype and (not ftype.sortable or not fields[name].get("stored", True)) and key == "sort":
                            self.add("E407", f"cannot sort on {ftype.name} field '{name}'", items.position_of(i))
                        elif key == "sort" and fields[name].get("encrypted"):
                            self.add("E407", f"cannot sort on encrypted field '{name}'", items.position_of(i))
                        stored = ftype and ftype.storage == "column" and fields[name].get("stored", True)
                        if ftype and not stored and key == "filters":
                            self.add("E407", f"cannot filter on {ftype.name} field '{name}'", items.position_of(i))
        form = spec.get("form")
        if isinstance(form, PosDict):
            sections: list[PosDict] = []
            if isinstance(form.get("sections"), PosList):
                sections += [s for s in form["sections"] if isinstance(s, PosDict)]
            if isinstance(form.get("tabs"), PosList):
                for tab in form["tabs"]:
                    if isinstance(tab, PosDict) and isinstance(tab.get("sections"), PosList):
                        sections += [s for s in tab["sections"] if isinstance(s, PosDict)]
            placed: dict[str, Position] = {}
            for section in sections:
                items = section.get("fields")
                if not isinstance(items, PosList):
                    continue
                for i, ref in enumerate(items):
                    where = items.position_of(i)
                    if ref not in fields:
                        self.add("E308", f"form layout names field '{ref}', which entity '{entity}' does not have",
                                 where, did_you_mean(ref, fields))
                    elif ref in placed:
                        self.add("E309", f"field '{ref}' is placed twice in the form layout", where,
                                 f"first placed at line {placed[ref].line}")
                    else:
                        placed[ref] = where
        indexes = spec.get("indexes")
        if isinstance(indexes, PosList):
            for index in indexes:
                if isinstance(index, PosDict) and isinstance(index.get("fields"), PosList):
                    for i, ref in enumerate(index["fields"]):
                        if ref not in known:
                            self.add("E307", f"index names unknown field '{ref}'", index["fields"].position_of(i),
                                     did_you_mean(ref, known))


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


_NEEDS_HINT = {
    "options": "list the options: options: [high, medium, low]",
    "to": "name the target entity: to: customer",
    "fields": "list the fields of each row under fields:",
    "expression": "give the formula: expression: qty * price",
    "format": "for example format: ORD-{YYYY}-{####}",
}


class _Probe:
    """Enough of a compiled Field for a type to coerce a default or bound during checks."""

    def __init__(self, fspec: Mapping, ftype: FieldType, option_values: list[str]):
        self.name = "value"
        self.type = ftype
        self.spec = fspec
        self.max_length = fspec.get("max_length")
        self.min_length = fspec.get("min_length")
        try:
            self.pattern = re.compile(fspec["pattern"]) if fspec.get("pattern") else None
        except re.error:
            self.pattern = None
        self.min = None
        self.max = None
        self.precision = fspec.get("precision")
        self.scale = fspec.get("scale")
        self.option_values = tuple(option_values)
        self.active_option_values = tuple(option_values)
        self.returns = fspec.get("returns")
        self.currency = fspec.get("currency")
        self.currencies = tuple(fspec.get("currencies") or ())
        self.currency_field = fspec.get("currency_field")
        self.subfields = {}
        self.renamed_from = None


def known_zone(name: str) -> bool:
    """An IANA time zone name this machine's zone database knows."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True
