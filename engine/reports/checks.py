"""Start-up checks of reports/*.yaml: everything JSON Schema cannot say, reported with file,
line, column and a stable code like every other YAML problem (E0xx, plus E306/E307 for
unknown entities and fields, E203 for keys a merged report needs and E5xx for expressions).

What a report may do with a field is decided here once, for the YAML; the run checks the
viewer's own rights again (engine/reports/compute.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Position, did_you_mean
from ..spec.yamlload import PosDict, PosList

KINDS = ("count", "sum", "avg", "min", "max", "count_distinct", "ratio")
BUCKETS = ("day", "week", "month", "quarter", "year", "month_of_year")  # month_of_year: 1-12, years together
DATE_TYPES = ("date", "datetime", "date_or_datetime")
# what can be summed or averaged (a computed or rollup field too when it is a stored number)
NUMBER_TYPES = ("integer", "decimal", "money", "percent", "duration")
GROUP_TYPES = ("string", "choice", "boolean", "email", "phone", "url", "link", "user", "integer", "autonumber",
               *DATE_TYPES)
OWNER = "owner"
DEPARTMENT = "owner.department"
# the standard columns a report may use, as the field types they behave like
STANDARD = {"owner": "user", "created_by": "user", "created_at": "datetime", "updated_at": "datetime"}
CHARTS_ONE_GROUP = ("pie", "donut", "funnel")


def group_field(item: Any) -> str | None:
    """The field a group_by item names (a name, or {field, bucket})."""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("field"), str):
        return item["field"]
    return None


def indexed_columns(reports: Mapping[str, Any], entity: str) -> set[str]:
    """The columns of `entity` its reports group by, take their period from, or link related
    records by (`from:`): the model indexes them (engine/model/compiler.py), so a report's
    GROUP BY reads an index and its period a range of one. Only plain columns: a bucket
    groups by an expression of the column, which its index still serves for the period."""
    found: set[str] = set()
    for report in reports.values():
        if not isinstance(report, Mapping):
            continue
        if report.get("entity") == entity:
            if isinstance(report.get("period"), str):
                found.add(report["period"])
            for item in report.get("group_by") or ():
                name = group_field(item)
                if name and "." not in name:
                    found.add(name)
        for measure in report.get("measures") or ():
            source = measure.get("from") if isinstance(measure, Mapping) else None
            if isinstance(source, str) and source.startswith(f"{entity}.") and source.count(".") == 1:
                found.add(source.split(".", 1)[1])
    return found


def measure_kind(measure: Mapping) -> str | None:
    found = [k for k in KINDS if k in measure]
    return found[0] if len(found) == 1 else None


class ReportChecker:
    """Checks every merged report; problems go to the project's checker."""

    def __init__(self, checker: Any):
        self.checker = checker
        self.spec = checker.spec
        self.types = checker.types

    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        self.checker.add(code, message, where, hint)

    def run(self, reports: Mapping[str, PosDict]) -> None:
        for name, report in reports.items():
            self.report(name, report)

    # -- one report ------------------------------------------------------------------------------
    def report(self, name: str, report: PosDict) -> None:
        where = f"report '{name}'"
        for key in ("entity", "measures"):
            if key not in report:
                self.add("E203", f"{where} needs the key '{key}'", report.position_of("report"))
        entity = report.get("entity")
        if not isinstance(entity, str):
            return
        spec = self.spec.entities.get(entity)
        if not isinstance(spec, PosDict):
            self.add("E306", f"{where} names unknown entity '{entity}'", report.position_of("entity"),
                     did_you_mean(entity, self.spec.entities))
            return
        fields = spec.get("fields") if isinstance(spec.get("fields"), PosDict) else PosDict()
        self.name, self.entity, self.fields, self.where = name, entity, fields, where
        self.report_spec = report
        self.hidden = self.hidden_fields(report, fields)
        roles = report.get("roles")
        for i, role in enumerate(roles if isinstance(roles, PosList) else ()):
            if role not in self.spec.roles:
                self.add("E008", f"{where} names unknown role '{role}'", roles.position_of(i),
                         did_you_mean(str(role), self.spec.roles) or "roles are defined in roles.yaml")
        groups = self.groups(report)
        measures = self.measures(report)
        env = self.checker.envs.get(entity)
        if env is not None and isinstance(report.get("filter"), str):
            self.expression(("report", name, "filter"), report, "filter", env, "filters on")
        if isinstance(report.get("having"), str):
            self.having(report)
        period = report.get("period")
        if isinstance(period, str):
            self.period(report, period)
        self.chart(report, groups)
        sort = report.get("sort")
        if isinstance(sort, str):
            key = sort.lstrip("-")
            if key not in measures and key not in groups:
                self.add("E001", f"{where} is sorted by '{key}', which is neither a measure nor a group",
                         report.position_of("sort"), did_you_mean(key, [*measures, *groups]) or
                         f"sort by one of: {', '.join([*measures, *groups])}")

    def hidden_fields(self, report: PosDict, fields: PosDict) -> dict[str, str]:
        """{field: why} of the fields the report may not use: hidden in the entity, or hidden,
        denied or masked (without `reveal`) for a role the report is for."""
        found: dict[str, str] = {}
        for fname, fspec in fields.items():
            if isinstance(fspec, PosDict) and fspec.get("hidden") is True:
                found[fname] = "it is hidden (hidden: true)"
        roles = report.get("roles")
        for role in roles if isinstance(roles, PosList) else ():
            role_spec = self.spec.roles.get(role)
            rules = role_spec.get("entities") if isinstance(role_spec, PosDict) else None
            rule = rules.get(self.entity) if isinstance(rules, PosDict) else None
            if not isinstance(rule, PosDict):
                continue
            rule_fields = rule.get("fields")
            for fname, how in rule_fields.items() if isinstance(rule_fields, PosDict) else ():
                if how in ("hidden", "deny"):
                    found.setdefault(fname, f"role '{role}' may not see it ({how})")
            actions = rule.get("actions")
            if not (isinstance(actions, list) and "reveal" in actions):
                for fname, fspec in fields.items():
                    if isinstance(fspec, PosDict) and isinstance(fspec.get("mask"), str):
                        found.setdefault(fname, f"it is masked for role '{role}'")
        return found

    def use(self, fname: str, where: Position, what: str) -> bool:
        """E005 when the field is hidden from someone the report is for."""
        base = fname.split(".")[0]
        if base in self.hidden:
            self.add("E005", f"{self.where} {what} '{fname}', but {self.hidden[base]}: hidden fields cannot be "
                     "grouped, filtered or summed", where, "leave the field out, or list only roles that see it")
            return False
        return True

    def field_spec(self, fname: str, where: Position, what: str) -> PosDict | None:
        if fname in STANDARD and fname not in self.fields:
            return PosDict({"type": STANDARD[fname]})
        fspec = self.fields.get(fname)
        if not isinstance(fspec, PosDict):
            self.add("E307", f"{self.where} {what} unknown field '{fname}' of '{self.entity}'", where,
                     did_you_mean(fname, [*self.fields, *STANDARD]))
            return None
        return fspec

    def type_of(self, fspec: Mapping) -> str:
        """The field's type as a report sees it: a stored computed or rollup field by what it holds."""
        kind = fspec.get("type")
        if kind == "computed":
            if fspec.get("stored", True) is False:
                return "computed"
            returns = fspec.get("returns") or "decimal"
            return {"number": "decimal"}.get(returns, returns)
        if kind == "rollup":
            return {"count": "integer"}.get(fspec.get("aggregate"), "decimal")
        return str(kind)

    def groups(self, report: PosDict) -> list[str]:
        items = report.get("group_by")
        names: list[str] = []
        for i, item in enumerate(items if isinstance(items, PosList) else ()):
            fname = group_field(item)
            if fname is None:
                continue
            where = item.position_of("field") if isinstance(item, PosDict) else items.position_of(i)
            names.append(fname)
            bucket = item.get("bucket") if isinstance(item, PosDict) else None
            if fname == DEPARTMENT or (fname in STANDARD and STANDARD[fname] == "user"):
                if bucket is not None:
                    self.add("E003", f"{self.where} puts '{fname}' in {bucket} buckets, but it is not a date",
                             item.position_of("bucket"), "buckets are for date and date-time fields")
                continue
            if "." in fname:
                self.add("E307", f"{self.where} groups by unknown field '{fname}'", where,
                         f"only '{DEPARTMENT}' (the department of the record's owner) has a dot")
                continue
            fspec = self.field_spec(fname, where, "groups by")
            if fspec is None or not self.use(fname, where, "groups by"):
                continue
            kind = self.type_of(fspec)
            if kind not in GROUP_TYPES or fspec.get("encrypted") is True:
                why = "it is encrypted" if fspec.get("encrypted") is True else f"it is a {fspec.get('type')} field"
                self.add("E002", f"{self.where} cannot group by '{fname}': {why}", where,
                         "group by a choice, link, user, text, yes/no or date field, or owner")
                continue
            if bucket is not None and kind not in DATE_TYPES:
                self.add("E003", f"{self.where} puts '{fname}' in {bucket} buckets, but it is a {fspec.get('type')} "
                         "field", item.position_of("bucket"), "buckets are for date and date-time fields")
        return names

    def measures(self, report: PosDict) -> list[str]:
        self.measure_kinds: dict[str, str] = {}
        items = report.get("measures")
        names: dict[str, Position] = {}
        ratios: list[tuple[PosList, str]] = []
        env = self.checker.envs.get(self.entity)
        for i, measure in enumerate(items if isinstance(items, PosList) else ()):
            if not isinstance(measure, PosDict) or not isinstance(measure.get("name"), str):
                continue
            mname = measure["name"]
            if mname in names:
                self.add("E001", f"{self.where} has two measures named '{mname}'", measure.position_of("name"),
                         f"first at line {names[mname].line}")
                continue
            names[mname] = measure.position_of("name")
            stated = [k for k in KINDS if k in measure]
            if len(stated) != 1:
                self.add("E203" if not stated else "E204",
                         f"{self.where}, measure '{mname}' needs exactly one of: {', '.join(KINDS)}"
                         + (f" (it has {', '.join(stated)})" if stated else ""),
                         items.position_of(i))
                continue
            kind = stated[0]
            if kind == "ratio":
                parts = measure.get("ratio")
                if isinstance(parts, PosList):
                    ratios.append((parts, mname))
                if "filter" in measure:
                    self.add("E204", f"{self.where}, ratio '{mname}' cannot have a filter",
                             measure.position_of("filter"), "put the filters on the two measures it divides")
                continue
            self.measure_kinds[mname] = kind
            if "from" in measure:
                self.related(measure, mname, kind)
                continue
            if env is not None and isinstance(measure.get("filter"), str):
                self.expression(("report", self.name, "measure", mname, "filter"), measure, "filter", env,
                                f"measure '{mname}' filters on")
            if kind == "count":
                self.no_options(measure, mname, kind)
                continue
            fname = measure.get(kind)
            if not isinstance(fname, str):
                continue
            where = measure.position_of(kind)
            fspec = self.field_spec(fname, where, f"measure '{mname}' aggregates")
            if fspec is None or not self.use(fname, where, f"measure '{mname}' aggregates"):
                continue
            if "since" in measure:
                self.since(measure, mname, kind, fname, fspec)
                continue
            self.aggregate(kind, mname, fname, fspec, where)
            self.currency(measure, mname, fspec)
        for parts, mname in ratios:
            for j, part in enumerate(parts):
                if part not in names:
                    self.add("E001", f"{self.where}, ratio '{mname}' names unknown measure '{part}'",
                             parts.position_of(j), did_you_mean(str(part), names) or
                             f"measures: {', '.join(names)}")
                elif part == mname:
                    self.add("E001", f"{self.where}, ratio '{mname}' divides itself", parts.position_of(j))
        return list(names)

    # -- measure options: since (a duration), currency (one currency), from (related records) --
    def no_options(self, measure: PosDict, mname: str, kind: str) -> None:
        for key in ("since", "currency"):
            if key in measure:
                self.add("E009", f"{self.where}, measure '{mname}' ({kind}) cannot have '{key}'",
                         measure.position_of(key), "since is for sum, avg, min and max of a date or date-time field; "
                         "currency for a money field")

    def since(self, measure: PosDict, mname: str, kind: str, fname: str, fspec: PosDict) -> None:
        """`avg: resolved_at, since: created_at`: the aggregate of resolved_at - created_at."""
        where = measure.position_of("since")
        start = measure.get("since")
        if kind not in ("sum", "avg", "min", "max"):
            self.add("E009", f"{self.where}, measure '{mname}' ({kind}) cannot have 'since'", where,
                     "since makes a duration to sum, average, or take the min or max of")
            return
        if "currency" in measure:
            self.add("E009", f"{self.where}, measure '{mname}' is a duration and cannot have 'currency'",
                     measure.position_of("currency"))
        start_spec = self.field_spec(str(start), where, f"measure '{mname}' measures since")
        if start_spec is None or not self.use(str(start), where, f"measure '{mname}' measures since"):
            return
        kinds = {self.type_of(fspec), self.type_of(start_spec)}
        if not kinds <= set(DATE_TYPES) or ("date" in kinds and len(kinds) > 1):
            self.add("E009", f"{self.where}, measure '{mname}' measures from '{start}' to '{fname}': both must be "
                     "dates or both date-times", where, "since and the measured field are two date or two "
                     "date-time fields")

    def currency(self, measure: PosDict, mname: str, fspec: PosDict) -> None:
        if "currency" in measure and fspec.get("type") != "money":
            self.add("E009", f"{self.where}, measure '{mname}' has a currency, but it is a {fspec.get('type')} field",
                     measure.position_of("currency"), "currency: is for money fields")

    def related(self, measure: PosDict, mname: str, kind: str) -> None:
        """`from: sales_order.customer`: the measure aggregates the records of another entity
        whose link field points at each record of the report's entity."""
        where = measure.position_of("from")
        source = measure.get("from")
        if not isinstance(source, str) or "." not in source:
            return  # the schema says
        other, *path = source.split(".")
        ospec = self.spec.entities.get(other)
        if not isinstance(ospec, PosDict):
            self.add("E306", f"{self.where}, measure '{mname}' counts unknown entity '{other}'", where,
                     did_you_mean(other, self.spec.entities))
            return
        ofields = ospec.get("fields") if isinstance(ospec.get("fields"), PosDict) else PosDict()
        lines = None
        if len(path) == 2:  # ENTITY.LINES.LINK: the child rows of a lines field, by a link of theirs
            lines, link = path
            lines_spec = ofields.get(lines)
            if not (isinstance(lines_spec, PosDict) and lines_spec.get("type") == "lines"):
                self.add("E009", f"{self.where}, measure '{mname}' counts the rows of '{other}.{lines}', which is not "
                         "a lines field", where, did_you_mean(lines, [n for n, f in ofields.items() if isinstance(
                             f, PosDict) and f.get("type") == "lines"]) or "ENTITY.LINES_FIELD.LINK_FIELD")
                return
            parent_fields = ofields
            ofields = lines_spec.get("fields") if isinstance(lines_spec.get("fields"), PosDict) else PosDict()
            other_name = f"{other}.{lines}"
        else:
            link = path[0]
            parent_fields, other_name = ofields, other
        lspec = ofields.get(link)
        if not (isinstance(lspec, PosDict) and lspec.get("type") == "link" and lspec.get("to") == self.entity):
            self.add("E009", f"{self.where}, measure '{mname}' counts '{other_name}' by '{link}', which is not a link "
                     f"to '{self.entity}'", where, did_you_mean(link, [n for n, f in ofields.items() if isinstance(
                         f, PosDict) and f.get("type") == "link" and f.get("to") == self.entity]) or
                     f"name a link field of '{other}' to '{self.entity}'")
            return
        if kind == "count_distinct" or "since" in measure:
            what = "count_distinct" if kind == "count_distinct" else "since"
            self.add("E009", f"{self.where}, measure '{mname}' counts related records and cannot use {what}",
                     measure.position_of("since" if what == "since" else "count_distinct"),
                     "related records are counted, summed, averaged, or their min or max taken")
            return
        saved = self.entity, self.fields, self.hidden
        self.entity, self.fields = other, parent_fields
        self.hidden = self.hidden_fields(self.report_spec, parent_fields)
        try:
            if not self.use(lines or link, where, f"measure '{mname}' counts by"):
                return
            env = self.checker.envs.get(other)
            if env is not None and isinstance(measure.get("filter"), str):
                self.expression(("report", self.name, "measure", mname, "filter"), measure, "filter", env,
                                f"measure '{mname}' filters on")
            if kind == "count":
                self.no_options(measure, mname, kind)
                return
            fname = measure.get(kind)
            if not isinstance(fname, str):
                return
            fwhere = measure.position_of(kind)
            self.fields = ofields  # the field aggregated is one of the rows' (with lines)
            fspec = self.field_spec(fname, fwhere, f"measure '{mname}' aggregates")
            if fspec is None or not self.use(fname, fwhere, f"measure '{mname}' aggregates"):
                return
            self.aggregate(kind, mname, fname, fspec, fwhere)
            self.currency(measure, mname, fspec)
            if fspec.get("type") == "money" and "currency" not in measure:
                self.add("E009", f"{self.where}, measure '{mname}' adds up '{other}.{fname}', a money field, "
                         "without a currency", fwhere, "add `currency: CNY` (only amounts in that currency count): "
                         "money is never added across currencies")
        finally:
            self.entity, self.fields, self.hidden = saved

    def having(self, report: PosDict) -> None:
        """`having:` a condition on the measures (not ratios), checked as an expression whose
        names are the measures."""
        from ..expr.env import Env

        types = {"count": "number", "count_distinct": "number"}
        fields = {}
        measures = report.get("measures") if isinstance(report.get("measures"), PosList) else ()
        for m in measures:
            if not isinstance(m, PosDict) or m.get("name") not in self.measure_kinds:
                continue
            kind = self.measure_kinds[m["name"]]
            if kind == "ratio":
                continue
            if kind in types or "since" in m:
                fields[m["name"]] = types.get(kind, "duration")
                continue
            owner = self.fields
            if isinstance(m.get("from"), str) and "." in m["from"]:
                parts = m["from"].split(".")
                ospec = self.spec.entities.get(parts[0])
                owner = ospec.get("fields") if isinstance(ospec, PosDict) and isinstance(ospec.get("fields"),
                                                                                         PosDict) else PosDict()
                if len(parts) == 3 and isinstance(owner.get(parts[1]), PosDict):
                    owner = owner[parts[1]].get("fields") or PosDict()
            fspec = owner.get(m.get(kind)) if isinstance(m.get(kind), str) else None
            ftype = self.type_of(fspec) if isinstance(fspec, PosDict) else "decimal"
            fields[m["name"]] = {"date": "date", "datetime": "datetime", "date_or_datetime": "datetime",
                                 "duration": "duration"}.get(ftype, "number")
        expression = self.checker.compile(("report", self.name, "having"), report, "having", Env(fields), "boolean")
        if expression is not None and not expression.sql_supported:
            self.add("E506", f"{self.where}: having cannot be computed in SQL: it uses a function SQL cannot run",
                     report.position_of("having"), "reports compute in the database: use SQL-able functions")

    def aggregate(self, kind: str, mname: str, fname: str, fspec: PosDict, where: Position) -> None:
        ftype = self.type_of(fspec)
        if fspec.get("encrypted") is True:
            ok = False
        elif kind in ("sum", "avg"):
            ok = ftype in NUMBER_TYPES
        elif kind in ("min", "max"):
            ok = ftype in NUMBER_TYPES or ftype in DATE_TYPES
        else:  # count_distinct
            ok = ftype in GROUP_TYPES or ftype in NUMBER_TYPES
        if not ok:
            allowed = {"sum": "number, money, percent or duration", "avg": "number, money, percent or duration",
                       "min": "number, money, duration or date", "max": "number, money, duration or date",
                       "count_distinct": "stored single-value"}[kind]
            what = "an encrypted" if fspec.get("encrypted") is True else f"a {fspec.get('type')}"
            self.add("E004", f"{self.where}, measure '{mname}' cannot take the {kind} of '{fname}': it is {what} "
                     "field", where, f"{kind} works on {allowed} fields")

    def expression(self, key: tuple, holder: PosDict, item: str, env: Any, what: str) -> None:
        expression = self.checker.compile(key, holder, item, env, "boolean")
        if expression is None:
            return
        where = holder.position_of(item)
        for fname in sorted(expression.fields):
            if not self.use(fname, where, what):
                return
        if self.checker.refuse_encrypted(expression, self.fields, where, f"{self.where} would compare",
                                         "filter on another field: the database holds only its ciphertext"):
            return
        unstored = sorted(n for n in expression.fields if isinstance(self.fields.get(n), PosDict)
                          and (self.fields[n].get("type") in ("lines", "links")
                               or (self.fields[n].get("type") == "computed" and self.fields[n].get("stored") is False)))
        if unstored or not expression.sql_supported:
            why = f"'{unstored[0]}' is not stored in the table" if unstored else "it uses a function SQL cannot run"
            self.add("E506", f"{self.where}: {item} cannot be computed in SQL: {why}", where,
                     "reports compute in the database: use stored fields and SQL-able functions")

    def period(self, report: PosDict, fname: str) -> None:
        where = report.position_of("period")
        fspec = self.field_spec(fname, where, "takes its period from")
        if fspec is None or not self.use(fname, where, "takes its period from"):
            return
        if self.type_of(fspec) not in DATE_TYPES:
            self.add("E007", f"{self.where} takes its period from '{fname}', a {fspec.get('type')} field", where,
                     "the period applies to a date or date-time field")

    def chart(self, report: PosDict, groups: list[str]) -> None:
        chart = report.get("chart")
        if not isinstance(chart, str):
            return
        where = report.position_of("chart")
        if chart == "number" and groups:
            self.add("E006", f"{self.where} is a number card but groups by {', '.join(groups)}", where,
                     "a number card shows one figure: remove group_by, or choose another chart")
        elif chart in CHARTS_ONE_GROUP and len(groups) != 1:
            self.add("E006", f"{self.where} is a {chart} chart, which needs exactly one group (it has {len(groups)})",
                     where, "add one group_by item")
        elif chart in ("stacked_bar", "pivot") and len(groups) != 2:
            self.add("E006", f"{self.where} is a {chart}, which needs two groups (it has {len(groups)})", where,
                     "group_by: [first, second]")
        elif chart in ("bar", "line", "area") and not groups:
            self.add("E006", f"{self.where} is a {chart} chart, which needs a group", where,
                     "add a group_by item, or choose the number card")
        if chart == "funnel" and len(groups) == 1:
            fspec = self.fields.get(groups[0])
            if not (isinstance(fspec, PosDict) and fspec.get("type") == "choice"):
                self.add("E006", f"{self.where} is a funnel, which needs a choice field (its stages) as its group",
                         where, "group by a stage field such as 'stage'")
            else:
                self.steps(report, groups[0], fspec)
        elif "steps" in report:
            self.add("E006", f"{self.where} has steps, which only a funnel has", report.position_of("steps"),
                     "steps are a funnel's stages in order: use chart: funnel, or remove steps")

    def steps(self, report: PosDict, fname: str, fspec: PosDict) -> None:
        """A funnel's `steps`: options of its stage field (each counted as "reached at least")."""
        steps = report.get("steps")
        if not isinstance(steps, PosList):
            return
        options = fspec.get("options")
        if isinstance(fspec.get("option_set"), str):  # shared options of tailor.yaml
            options = (self.spec.settings.get("option_sets") or {}).get(fspec["option_set"])
        if not isinstance(options, list):
            return  # the field's own checks say what is wrong with its options
        options = [o.get("value") if isinstance(o, Mapping) else o for o in options]
        values = [str(o) for o in options if o is not None]
        for i, step in enumerate(steps):
            if isinstance(step, str) and step not in values:
                self.add("E006", f"{self.where} has the step '{step}', which is not an option of '{fname}'",
                         steps.position_of(i), did_you_mean(step, values) or f"the options: {', '.join(values)}")
