"""Spec -> compiled model: labels resolved, expressions attached, Core tables built.

Runs only on a spec the checks passed, so it can assume every reference resolves.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from .. import __version__
from ..fields.base import FieldType
from ..fields.relation import ID_TYPE, ON_DELETE
from ..labels import DEFAULT_LANGUAGE, english_plural, readable
from ..permissions.roles import ACTIONS, compile_roles
from ..reports.checks import indexed_columns
from ..reports.dashboards import compile_dashboards
from ..reports.definition import compile_reports
from ..spec.checks import STANDARD_FIELDS, SpecChecker
from ..spec.project import ProjectSpec, Provenance, option_value
from ..spec.yamlload import PosDict, plain
from ..storage.system import NAMING_CONVENTION, departments, users
from ..workflows.definition import compile_workflows
from .cycles import mark_reference_cycles
from .derived import attach_derived, fingerprint_all
from .model import (
    Agenda,
    CompiledModel,
    Entity,
    Field,
    ListConfig,
    Option,
    Origin,
    Rule,
    Section,
    Tab,
)
from .rollups import Rollup, attach_rollups
from .search import SEARCH_COLUMN, attach_search
from .titles import Title, choose_title


def identifier(name: str, limit: int = 63) -> str:
    """A generated name within PostgreSQL's 63 characters: long ones keep a readable
    start and end in a short hash, so they stay unique and stable."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9]}_{digest}"


def always_required(field: Field) -> bool:
    """Required on every record, so the column can be NOT NULL: not hidden, never invisible."""
    return field.required and not field.hidden and field.visible_when is None and not field.is_computed


def constant_default(field: Field) -> Any:
    """The value existing rows get when a required column is added: the default, or a
    default expression that reads no field (e.g. `today()`), evaluated now."""
    if field.default is not None:
        return field.default
    expression = field.default_expr
    if expression is not None and not expression.fields:
        from ..records.context import Context

        value = expression.evaluate({}, Context().variables)
        try:
            return field.type.coerce(value, field)
        except Exception:
            return None
    return None


def label_of(value: Any, language: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if isinstance(value, str):
        return MappingProxyType({language: value})
    return MappingProxyType({str(k): str(v) for k, v in value.items()})


LIST_COLUMNS = 6
DEFAULT_FILTERS = 5  # a handful: more would crowd the list page
FILTER_TYPES = ("choice", "link", "polymorphic_link", "user", "date", "datetime", "boolean")
# types whose text a search looks in by default (by type name: plugins and later engines add some)
SEARCH_TYPES = ("string", "email", "phone", "autonumber", "person_name", "emails", "phones")


def default_columns(fields: Mapping[str, Field], naming: Title) -> list[str]:
    """The title's fields first (so the first column, which links to the record, names
    it), then the other visible fields stored in the row, six in all."""
    visible = [f.name for f in fields.values() if not f.hidden and f.type.storage == "column"]
    first = [n for n in naming.fields if n in visible]
    return [*first, *(n for n in visible if n not in first)][:LIST_COLUMNS]


def default_filters(fields: Mapping[str, Field]) -> list[str]:
    """Filters of a list that declares none: its visible choice, link (polymorphic too),
    user, date and boolean fields, in field order, a handful at most."""
    return [f.name for f in fields.values() if not f.hidden and f.type.name in FILTER_TYPES
            and f.type.storage == "column"][:DEFAULT_FILTERS]


def default_search(fields: Mapping[str, Field], naming: Title) -> list[str]:
    """What the search box and link lookups look in when `search:` is not given: the
    title's text fields, then every visible name-like text field (string, e-mail, phone,
    autonumber, and the person name, e-mails and phones types by name)."""
    def searchable(f: Field | None) -> bool:
        return f is not None and not f.hidden and f.type.storage == "column" and f.stores_column and (
            f.type.name in SEARCH_TYPES or (f.is_computed and f.stored and f.returns == "string"))

    first = [n for n in naming.fields if searchable(fields.get(n))]
    return [*first, *(f.name for f in fields.values() if searchable(f) and f.type.name in SEARCH_TYPES
                      and f.name not in first)]


def default_label(name: str) -> Mapping[str, str]:
    """The label of something the YAML did not label: its name made readable, in English
    (`closed_won` -> "Closed won"); see engine/labels.py."""
    return MappingProxyType({DEFAULT_LANGUAGE: readable(name)})


def spec_version(settings: dict, entities: dict, plugin_names: list[str], roles: dict | None = None,
                 workflows: dict | None = None, reports: dict | None = None,
                 dashboards: dict | None = None) -> str:
    """A short hash of the merged spec (plain data), the engine version and the plugins."""
    payload = {"engine": __version__, "settings": settings, "entities": entities, "plugins": sorted(plugin_names)}
    if roles:
        payload["roles"] = roles
    if workflows:
        payload["workflows"] = workflows
    if reports:
        payload["reports"] = reports
    if dashboards:
        payload["dashboards"] = dashboards
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def _origin(provenance: Provenance | None) -> Origin | None:
    if provenance is None:
        return None
    return Origin(
        provenance.defined_in,
        str(provenance.position),
        tuple((c.layer, str(c.position), c.keys) for c in provenance.changes),
    )


class Compiler:
    def __init__(self, spec: ProjectSpec, checker: SpecChecker, field_types: Mapping[str, FieldType],
                 plugins: Any, functions: Any, validators: Mapping[str, Any]):
        self.spec = spec
        self.checker = checker
        self.types = field_types
        self.plugins = plugins
        self.functions = functions
        self.validators = validators
        settings = spec.settings
        self.languages = tuple(settings.get("languages") or ["en"])
        self.language = settings.get("default_language") or self.languages[0]
        self.currency = settings.get("currency") or "CNY"
        self.project_currencies = tuple(settings.get("currencies") or ())
        self.metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
        departments.to_metadata(self.metadata)  # tailor_user refers to it
        users.to_metadata(self.metadata)

    def compile(self) -> CompiledModel:
        settings = plain(self.spec.settings)
        plain_entities = {n: plain(e) for n, e in sorted(self.spec.entities.items())}
        self.plain_entities = plain_entities
        entities = {name: self.entity(name, spec) for name, spec in self.spec.entities.items()}
        mark_reference_cycles(self.metadata)
        for entity in entities.values():
            attach_derived(entity)
            attach_search(entity)
        attach_rollups(entities)
        fingerprint_all(entities)
        plugin_names = [n for n, _ in self.plugins.list_name_plugin()] if self.plugins else []
        menu = self.menu(entities)
        plain_roles = {n: plain(r) for n, r in sorted(self.spec.roles.items())}
        roles = compile_roles(self.spec.roles, self.checker.expressions, lambda v: label_of(v, self.language))
        plain_workflows = {n: plain(w) for n, w in sorted(self.spec.workflows.items())}
        workflows = compile_workflows(plain_workflows, self.checker.expressions,
                                      lambda v: label_of(v, self.language))
        plain_reports = {n: plain(r) for n, r in sorted(self.spec.reports.items())}
        reports = compile_reports(plain_reports, self.checker.expressions, lambda v: label_of(v, self.language),
                                  {n: _origin(p) for n, p in self.spec.report_provenance.items()})
        plain_dashboards = {n: plain(d) for n, d in sorted(self.spec.dashboards.items())}
        dashboards = compile_dashboards(plain_dashboards, lambda v: label_of(v, self.language))
        return CompiledModel(
            project=self.spec.name,
            version=spec_version(settings, plain_entities, plugin_names, plain_roles, plain_workflows,
                                 plain_reports, plain_dashboards),
            label=label_of(self.spec.settings.get("label") or self.spec.name, self.language),
            languages=self.languages,
            default_language=self.language,
            currency=self.currency,
            entities=MappingProxyType(entities),
            metadata=self.metadata,
            menu=tuple(menu),
            spec=MappingProxyType({"settings": settings, "entities": plain_entities}),
            plugins=self.plugins,
            functions=self.functions,
            validators=MappingProxyType(dict(self.validators)),
            roles=roles,
            actions=(*ACTIONS, *self.checker.actions),
            workflows=workflows,
            reports=reports,
            dashboards=dashboards,
            resolvers=MappingProxyType(dict(self.checker.resolvers)),
            workflow_actions=MappingProxyType(dict(self.checker.workflow_actions)),
            designer_changes=MappingProxyType({str(i): a or "" for layer in self.spec.layers if layer.designer
                                               for i, a in layer.designer.change_sets}),
        )

    def menu(self, entities: Mapping[str, Entity]) -> tuple[tuple[Mapping[str, str], tuple[str, ...]], ...]:
        """The navigation, in the order the YAML gives: the groups of tailor.yaml `menu:`
        with their entities as listed; then, in each group, entities that name it by
        `menu:` (matched with the group's label in any language; a group no `menu:` item
        has is added after them); last, in a group without a title, every other entity.
        Entities placed by their own `menu:` or not placed at all come by `menu_order`
        (those without one after, in the order their files are read), never by name."""
        order = {name: i for i, name in enumerate(entities)}

        def rank(name: str) -> tuple:
            position = entities[name].menu_order
            return (position is None, position or 0, order[name])

        groups: list[tuple[Mapping[str, str], list[str]]] = []
        texts: list[set[str]] = []
        placed: set[str] = set()
        for group in self.spec.settings.get("menu") or []:
            names = [n for n in group.get("entities") or () if n in entities]
            label = group.get("group")
            groups.append((label_of(label, self.language), list(dict.fromkeys(names))))
            texts.append({label.strip()} if isinstance(label, str) else {str(v).strip() for v in (label or {}).values()})
            placed.update(names)
        rest: list[str] = []
        for name in sorted((n for n in entities if n not in placed), key=rank):
            wanted = (entities[name].menu or "").strip()
            if not wanted:
                rest.append(name)
                continue
            found = next((i for i, t in enumerate(texts) if wanted in t), None)
            if found is None:
                groups.append((label_of(wanted, self.language), []))
                texts.append({wanted})
                found = len(groups) - 1
            groups[found][1].append(name)
        if rest:
            groups.append((MappingProxyType({}), rest))
        return tuple((label, tuple(names)) for label, names in groups)

    def owner_scoped(self, entity: str) -> bool:
        """Whether a role limits this entity to rows by owner (own, team, department)."""
        for role in self.spec.roles.values():
            rules = role.get("entities") if isinstance(role, dict) else None
            rule = rules.get(entity) if isinstance(rules, dict) else None
            if isinstance(rule, dict) and rule.get("scope") in ("own", "team", "department"):
                return True
        return False

    def scope_fields(self, entity: str) -> list[str]:
        """The fields role conditions (`scope: "amount >= 45000"`) of this entity read."""
        found: set[str] = set()
        for role in self.spec.roles:
            expression = self.checker.expressions.get(("role", role, entity, "scope"))
            if expression is not None:
                found |= expression.fields
        return sorted(found)

    # -- fields ------------------------------------------------------------------------------
    def currencies_of(self, ftype: FieldType, spec: Mapping[str, Any]) -> tuple[str, ...]:
        """The one set of currencies a money field offers and accepts: its `currencies`, else
        the project's, else its `currency` (by default the project's). With `currency_field`
        the currency is that field's value (its options, for a choice)."""
        if ftype.name != "money" or spec.get("currency_field"):
            return tuple(spec.get("currencies") or ())
        return tuple(spec.get("currencies") or self.project_currencies or (spec.get("currency") or self.currency,))

    def field(self, entity: str, name: str, spec: PosDict, key_prefix: tuple, plain_spec: dict) -> Field:
        ftype = self.types[spec["type"]]
        expr = self.checker.expressions.get
        options = []
        for option in spec.get("options") or []:
            value = option_value(option)
            given = option.get("label") if isinstance(option, dict) else None
            label = label_of(given, self.language) if given else default_label(str(value))
            origin = None if key_prefix else _origin(self.spec.option_provenance.get((entity, name, str(value))))
            if isinstance(option, dict):
                options.append(Option(str(value), label, option.get("color"), bool(option.get("hidden")), origin))
            else:
                options.append(Option(str(value), label, origin=origin))
        pattern = spec.get("pattern")
        default = spec.get("default")
        subfields: dict[str, Field] = {}
        for sub_key in ("fields", "payload"):
            if isinstance(spec.get(sub_key), PosDict):
                for sname, sspec in spec[sub_key].items():
                    subfields[sname] = self.field(entity, sname, sspec, (*key_prefix, name),
                                                  plain_spec[sub_key][sname])
        computed = expr((entity, *key_prefix, name, "expression")) if ftype.name == "computed" else None
        rollup = self.rollup(entity, name, spec) if ftype.name == "rollup" else None
        returns = spec.get("returns") or ("decimal" if ftype.name == "computed" else None)
        if rollup is not None:
            returns = self.checker.rollup_returns(spec)
        field = Field(
            entity=entity,
            name=name,
            type=ftype,
            label=label_of(spec.get("label"), self.language) if spec.get("label") else default_label(name),
            help=label_of(spec.get("help"), self.language),
            placeholder=label_of(spec.get("placeholder"), self.language),
            required=bool(spec.get("required")),
            unique=bool(spec.get("unique")),
            default=None if isinstance(default, dict) else plain_spec.get("default"),
            default_expr=expr((entity, *key_prefix, name, "default")),
            max_length=spec.get("max_length"),
            min_length=spec.get("min_length"),
            pattern=re.compile(pattern) if pattern else None,
            index=bool(spec.get("index")),
            readonly=bool(spec.get("readonly")) or ftype.name in ("computed", "autonumber") or ftype.derived,
            hidden=bool(spec.get("hidden")),
            visible_when=expr((entity, *key_prefix, name, "visible_when")),
            required_when=expr((entity, *key_prefix, name, "required_when")),
            readonly_when=expr((entity, *key_prefix, name, "readonly_when")),
            renamed_from=spec.get("renamed_from"),
            options=tuple(options),
            to=spec.get("to") if isinstance(spec.get("to"), str) else None,
            targets=tuple(spec.get("to")) if isinstance(spec.get("to"), list) else (),
            on_delete=spec.get("on_delete") or ("restrict" if spec.get("required") else "set_null"),
            subfields=MappingProxyType(subfields),
            expression=computed,
            rollup=rollup,
            returns=returns,
            stored=bool(spec.get("stored", True)),
            format=spec.get("format"),
            precision=spec.get("precision") or (38 if rollup is not None else None),
            scale=spec.get("scale") if rollup is None or spec.get("scale") is not None else self.rollup_scale(rollup),
            currency=None if spec.get("currency_field") else spec.get("currency") or self.currency,
            currencies=self.currencies_of(ftype, spec),
            currency_field=spec.get("currency_field"),
            validators=tuple(spec.get("validators") or ()),
            link_filter=expr((entity, *key_prefix, name, "filter")),
            copy_from=_pair(spec.get("copy_from")),
            spec=MappingProxyType(plain_spec),
            origin=_origin(self.spec.provenance.get((entity, name))) if not key_prefix else None,
        )
        if rollup is not None and rollup.empty() is not None:  # a new record counts nothing yet
            object.__setattr__(field, "default", ftype.coerce(rollup.empty(), field))
        bounds = {}
        for key in ("min", "max"):
            if spec.get(key) is not None:
                bounds[key] = ftype.coerce(spec[key], field) if ftype.name != "computed" else spec[key]
        if field.default is not None and ftype.storage == "column" and ftype.name not in ("computed", "autonumber"):
            bounds["default"] = ftype.coerce(field.default, field)
        if bounds:
            object.__setattr__(field, "min", bounds.get("min"))
            object.__setattr__(field, "max", bounds.get("max"))
            if "default" in bounds:
                object.__setattr__(field, "default", bounds["default"])
        return field

    def rollup_scale(self, rollup: Rollup) -> int | None:
        """The decimals a rollup keeps: those of the field it aggregates (an average two more)."""
        if rollup.field is None:
            return None
        source = self.spec.entities[rollup.child]["fields"].get(rollup.field) or {}
        ftype = self.types.get(source.get("type"))
        scale = source.get("scale")
        if scale is None:
            scale = {"integer": 0, "money": 2, "percent": 2}.get(source.get("type"),
                                                               getattr(ftype, "default_scale", 4))
        return min(int(scale) + (2 if rollup.aggregate == "avg" else 0), 10)

    def rollup(self, entity: str, name: str, spec: PosDict) -> Rollup:
        child, _, link = spec["from"].partition(".")
        link_spec = self.spec.entities[child]["fields"][link]
        return Rollup(child=child, link=link, polymorphic=link_spec.get("type") == "polymorphic_link",
                      aggregate=spec["aggregate"], field=spec.get("field"),
                      where=self.checker.expressions.get((entity, name, "where")))

    # -- entities -----------------------------------------------------------------------------
    def entity(self, name: str, spec: PosDict) -> Entity:
        plain_fields = self.plain_entities[name].get("fields") or {}
        fields = {fname: self.field(name, fname, fspec, (), plain_fields[fname])
                  for fname, fspec in (spec.get("fields") or {}).items()}
        listing = spec.get("list") or {}
        expression = self.checker.expressions.get((name, "title"))
        declared = spec.get("title") if expression is None and spec.get("title") in fields else None
        naming = choose_title(fields, declared, expression)
        title = naming.field
        sort = listing.get("sort") or ["-id"]
        list_config = ListConfig(
            columns=tuple(listing.get("columns") or default_columns(fields, naming)),
            filters=tuple(listing["filters"] if "filters" in listing else default_filters(fields)),
            sort=tuple([sort] if isinstance(sort, str) else sort),
            search=tuple(listing.get("search") or default_search(fields, naming)),
            page_size=int(listing.get("page_size") or 50),
        )
        # declared filters are indexed; default ones are not (a project gains no indexes by them)
        table, children = self.tables(name, spec, fields, list_config, title,
                                      tuple(listing.get("filters") or ()))
        label = label_of(spec.get("label"), self.language) if spec.get("label") else default_label(name)
        return Entity(
            name=name,
            label=label,
            plural=self.plural(label, spec.get("plural")),
            title_field=title,
            title=naming,
            menu_order=spec.get("menu_order"),
            in_menu=spec.get("in_menu", True) is not False,
            fields=MappingProxyType(fields),
            list=list_config,
            tabs=self.tabs(spec, fields),
            rules=self.rules(name, spec),
            table=table,
            child_tables=MappingProxyType(children),
            hidden=bool(spec.get("hidden")),
            stage=spec.get("stage"),
            agenda=self.agenda(name, spec),
            menu=spec.get("menu"),
            icon=spec.get("icon"),
            renamed_from=spec.get("renamed_from"),
            origin=_origin(self.spec.provenance.get((name, None))),
            env=self.checker.envs.get(name) or self.checker.env_for(spec.get("fields") or PosDict()),
        )

    def agenda(self, name: str, spec: Mapping[str, Any]) -> Agenda | None:
        agenda = spec.get("agenda")
        if not isinstance(agenda, Mapping) or not isinstance(agenda.get("due"), str):
            return None
        has_open = isinstance(agenda.get("open"), str) and (name, "agenda", "open") in self.checker.expressions
        return Agenda(due=agenda["due"], open=agenda["open"] if has_open else None)

    def plural(self, label: Mapping[str, str], given: Any) -> Mapping[str, str]:
        """`plural:` as written, and for each language of the label it lacks: the English
        plural of the English label ("Opportunity" -> "Opportunities"), the label itself
        in other languages (Chinese has no plural form)."""
        plural = dict(label_of(given, self.language)) if given else {}
        for lang, singular in label.items():
            plural.setdefault(lang, english_plural(singular) if lang == DEFAULT_LANGUAGE else singular)
        return MappingProxyType(plural)

    def tabs(self, spec: PosDict, fields: dict[str, Field]) -> tuple[Tab, ...]:
        def section(s: Mapping) -> Section:
            return Section(label_of(s.get("section"), self.language), tuple(s.get("fields") or ()),
                           int(s.get("columns") or 2), bool(s.get("collapsed")))

        form = spec.get("form") or {}
        if form.get("tabs"):
            return tuple(Tab(label_of(t.get("tab"), self.language), tuple(section(s) for s in t["sections"]))
                         for t in form["tabs"])
        if form.get("sections"):
            return (Tab(MappingProxyType({}), tuple(section(s) for s in form["sections"])),)
        shown = tuple(n for n, f in fields.items() if not f.hidden)
        return (Tab(MappingProxyType({}), (Section(MappingProxyType({}), shown),)),)

    def rules(self, entity: str, spec: PosDict) -> tuple[Rule, ...]:
        result = []
        for i, rule in enumerate(spec.get("rules") or []):
            name = rule.get("name") or f"rule_{i + 1}"
            result.append(Rule(
                name=name,
                check=self.checker.expressions[(entity, "rule", i, "check")],
                message=label_of(rule.get("message"), self.language),
                when=self.checker.expressions.get((entity, "rule", i, "when")),
                field=rule.get("field"),
                origin=_origin(self.spec.rule_provenance.get((entity, name))),
            ))
        return tuple(result)

    def tables(self, name: str, spec: PosDict, fields: dict[str, Field], listing: ListConfig,
               title: str | None, filters: tuple[str, ...] = ()) -> tuple[sa.Table, dict[str, sa.Table]]:
        columns: list[Any] = [
            sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", ID_TYPE, sa.ForeignKey("tailor_user.id", ondelete="SET NULL")),
            sa.Column("owner", ID_TYPE, sa.ForeignKey("tailor_user.id", ondelete="SET NULL"), index=True),
            sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        ]
        for field in fields.values():
            for column in field.type.columns(field):
                if column.name == field.name and always_required(field):
                    column.nullable = False
                    backfill = constant_default(field)
                    if backfill is not None:  # as the column holds it (a duration in microseconds)
                        column.info["backfill"] = field.type.to_row(backfill, field).get(column.name, backfill)
                if (field.unique or field.is_autonumber) and column.name == field.name:
                    column.unique = True
                columns.append(column)
        if any(name in fields for name in listing.search):  # the folded text searches look in
            columns.append(sa.Column(SEARCH_COLUMN, sa.Text(), nullable=True, info={"renamed_from": None}))
        sorted_on = {s.lstrip("-") for s in listing.sort}
        indexed = set(filters) | {f.name for f in fields.values() if f.index}
        indexed |= indexed_columns(self.spec.reports, name)  # what reports group, link and take periods by
        if title:
            indexed.add(title)
        if spec.get("stage"):
            indexed.add(spec["stage"])
        table = sa.Table(name, self.metadata, *columns, sqlite_autoincrement=True,  # ids never reused
                         info={"entity": name, "renamed_from": spec.get("renamed_from")})
        # Wanted indexes by column list; an explicit index may make one unique (never the
        # reverse), and two declarations of the same columns become one index.
        wanted: dict[tuple[str, ...], bool] = {}
        for column_name in sorted(indexed - sorted_on):
            if column_name in table.c and column_name != "id" and not table.c[column_name].unique:
                wanted[(column_name,)] = False
        for field in fields.values():  # an encrypted field is found by the hash of its value
            if field.encrypted and f"{field.name}_hash" in table.c:
                wanted[(f"{field.name}_hash",)] = False
        for sort_key in listing.sort:  # (column, id) serves filtering and keyset paging
            column_name = sort_key.lstrip("-")
            if column_name in table.c and column_name != "id":
                wanted[(column_name, "id")] = False
                if self.owner_scoped(name):  # a rep's own rows, in list order, from one index
                    wanted[("owner", column_name, "id")] = False
        stage = spec.get("stage") if isinstance(spec.get("stage"), str) and spec.get("stage") in table.c else None
        if stage:
            for sort_key in listing.sort:  # a board lane, or a list filtered by stage, in list order
                column_name = sort_key.lstrip("-")
                if column_name in table.c and column_name not in ("id", stage):
                    wanted[(stage, column_name, "id")] = False
        if self.owner_scoped(name) and stage:
            wanted[("owner", stage)] = False  # a rep's board lanes and stage filters, counted
        agenda = spec.get("agenda")
        due = agenda.get("due") if isinstance(agenda, Mapping) else None
        if isinstance(due, str) and due in table.c:  # a user's things due, found from their home page
            wanted[("owner", due)] = False
        for field in fields.values():  # records pointing at one record, found from it (related lists, deletes)
            if field.type.name == "polymorphic_link":
                wanted[(f"{field.name}_entity", field.name)] = False
        for field_name in self.scope_fields(name):  # role conditions filter every list: index them
            if field_name in table.c and field_name != stage and not table.c[field_name].unique:
                wanted.setdefault((field_name,), False)
                if stage:  # counted by stage without reading the table
                    wanted[(stage, field_name)] = False
        explicit_names: dict[tuple[str, ...], str] = {}
        for index in spec.get("indexes") or []:
            key = tuple(c.name for ref in index["fields"] for c in table.c if c.name == ref)
            wanted[key] = wanted.get(key, False) or bool(index.get("unique"))
            if index.get("name"):
                explicit_names[key] = index["name"]
        for key, unique in wanted.items():
            prefix = "uq" if unique else "ix"
            sa.Index(explicit_names.get(key) or identifier(f"{prefix}_{name}_{'_'.join(key)}"),
                     *[table.c[c] for c in key], unique=unique)
        children: dict[str, sa.Table] = {}
        for field in fields.values():
            if field.type.name == "lines":
                children[field.name] = self.lines_table(name, field)
            elif field.type.name == "links":
                children[field.name] = self.links_table(name, field)
            if field.name in children:
                old_entity = spec.get("renamed_from") or name
                old_field = field.renamed_from or field.name
                if (old_entity, old_field) != (name, field.name):
                    children[field.name].info["renamed_from"] = f"{old_entity}__{old_field}"
        return table, children

    def lines_table(self, entity: str, field: Field) -> sa.Table:
        columns: list[Any] = [
            sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
            sa.Column("parent_id", ID_TYPE, sa.ForeignKey(f"{entity}.id", ondelete="CASCADE"),
                      nullable=False, index=True),
            sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        ]
        for sub in field.subfields.values():
            for column in sub.type.columns(sub):
                if column.name == sub.name and always_required(sub):
                    column.nullable = False
                columns.append(column)
        return sa.Table(f"{entity}__{field.name}", self.metadata, *columns, sqlite_autoincrement=True,
                        info={"entity": entity, "field": field.name, "kind": "lines", "renamed_from": None})

    def links_table(self, entity: str, field: Field) -> sa.Table:
        columns: list[Any] = [
            sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
            sa.Column("source_id", ID_TYPE, sa.ForeignKey(f"{entity}.id", ondelete="CASCADE"), nullable=False),
            sa.Column("target_id", ID_TYPE, sa.ForeignKey(f"{field.to}.id", ondelete="CASCADE"),
                      nullable=False, index=True),
        ]
        for sub in field.subfields.values():
            columns += sub.type.columns(sub)
        return sa.Table(f"{entity}__{field.name}", self.metadata, *columns,
                        sa.UniqueConstraint("source_id", "target_id"), sqlite_autoincrement=True,
                        info={"entity": entity, "field": field.name, "kind": "links", "renamed_from": None})


__all__ = ["Compiler", "STANDARD_FIELDS", "ON_DELETE", "label_of", "spec_version"]


def _pair(copy_from: Any) -> tuple[str, str] | None:
    """`copy_from: product.list_price` as ("product", "list_price")."""
    if not isinstance(copy_from, str) or "." not in copy_from:
        return None
    link, _, target = copy_from.partition(".")
    return link, target
