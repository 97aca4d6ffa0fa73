"""A diff as a person reads it (`render`, English or Chinese) and as JSON (`to_json`).

The text is for review: one line per change, grouped by category in a fixed order, then the
migration. Its wording comes from the pages' message catalogue (engine/web/translations),
so `--lang zh` needs no second implementation; the planner's own step details stay in
English, as `tailor migrate --plan` prints them. The JSON is for programs and is stable: its
keys are documented in docs/diff.md and only ever added to (`format` says which).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..model.model import text
from ..notify import N_, translations
from .changes import CATEGORIES, Change, Diff, Migration, Step

JSON_FORMAT = 1
_LANGUAGE = re.compile(r"[a-z]{2}([-_][A-Za-z]{2,4})?")

HEADINGS = {
    "project": N_("Project"),
    "entity": N_("Entities"),
    "field": N_("Fields"),
    "option": N_("Options"),
    "index": N_("Indexes"),
    "rule": N_("Rules"),
    "role": N_("Roles"),
    "field_permission": N_("Field permissions"),
    "workflow": N_("Workflows"),
    "approval": N_("Approval flows"),
}

# kind -> (mark, line); %(target)s, %(label)s, %(key)s, %(old)s, %(new)s
LINES: dict[str, tuple[str, str]] = {
    "project.changed": ("~", N_("%(key)s: %(old)s → %(new)s")),
    "project.menu": ("~", N_("menu: %(old)s → %(new)s")),
    "entity.added": ("+", N_("%(target)s %(label)s added")),
    "entity.removed": ("-", N_("%(target)s %(label)s removed (its table is kept unless dropped with "
                              "--allow-destructive)")),
    "entity.renamed": ("~", N_("%(target)s renamed from %(old)s (rows kept)")),
    "entity.hidden": ("~", N_("%(target)s %(label)s hidden (its records and table are kept)")),
    "entity.shown": ("~", N_("%(target)s %(label)s shown again")),
    "entity.label": ("~", N_("%(target)s: label %(old)s → %(new)s")),
    "entity.changed": ("~", N_("%(target)s: %(key)s %(old)s → %(new)s")),
    "field.added": ("+", N_("%(target)s %(label)s added: %(new)s")),
    "field.removed": ("-", N_("%(target)s %(label)s removed: its column is kept unless dropped with "
                             "--allow-destructive")),
    "field.renamed": ("~", N_("%(target)s renamed from %(old)s (values kept)")),
    "field.hidden": ("~", N_("%(target)s %(label)s hidden (its values are kept)")),
    "field.shown": ("~", N_("%(target)s %(label)s shown again")),
    "field.type": ("~", N_("%(target)s: type %(old)s → %(new)s")),
    "field.required": ("~", N_("%(target)s: required %(old)s → %(new)s")),
    "field.unique": ("~", N_("%(target)s: unique %(old)s → %(new)s")),
    "field.label": ("~", N_("%(target)s: label %(old)s → %(new)s")),
    "field.link": ("~", N_("%(target)s: links to %(old)s → %(new)s")),
    "field.property": ("~", N_("%(target)s: %(key)s %(old)s → %(new)s")),
    "option.added": ("+", N_("%(target)s %(label)s added")),
    "option.removed": ("-", N_("%(target)s %(label)s removed (stored values are checked by the migration)")),
    "option.relabelled": ("~", N_("%(target)s: label %(old)s → %(new)s")),
    "option.hidden": ("~", N_("%(target)s %(label)s hidden (no longer offered; stored values kept)")),
    "option.shown": ("~", N_("%(target)s %(label)s offered again")),
    "option.color": ("~", N_("%(target)s: colour %(old)s → %(new)s")),
    "option.order": ("~", N_("%(target)s: order of the options %(old)s → %(new)s")),
    "index.added": ("+", N_("%(target)s added: %(new)s")),
    "index.removed": ("-", N_("%(target)s removed: %(old)s")),
    "index.changed": ("~", N_("%(target)s: %(old)s → %(new)s")),
    "rule.added": ("+", N_("%(target)s added: %(new)s")),
    "rule.removed": ("-", N_("%(target)s removed: %(old)s")),
    "rule.changed": ("~", N_("%(target)s: %(old)s → %(new)s")),
    "role.added": ("+", N_("role %(target)s %(label)s added")),
    "role.removed": ("-", N_("role %(target)s %(label)s removed")),
    "role.label": ("~", N_("role %(target)s: label %(old)s → %(new)s")),
    "role.two_factor": ("~", N_("role %(target)s: two-factor sign-in required %(old)s → %(new)s")),
    "role.granted": ("+", N_("%(target)s granted: %(new)s")),
    "role.revoked": ("-", N_("%(target)s revoked: %(old)s")),
    "role.actions": ("~", N_("%(target)s: actions %(old)s → %(new)s")),
    "role.deny": ("~", N_("%(target)s: denied actions %(old)s → %(new)s")),
    "role.scope": ("~", N_("%(target)s: scope %(old)s → %(new)s")),
    "field_permission.changed": ("~", N_("%(target)s: %(old)s → %(new)s")),
    "workflow.added": ("+", N_("workflow %(target)s %(label)s added")),
    "workflow.removed": ("-", N_("workflow %(target)s %(label)s removed")),
    "workflow.changed": ("~", N_("workflow %(target)s: %(key)s %(old)s → %(new)s")),
    "workflow.state_added": ("+", N_("state %(target)s added: %(new)s")),
    "workflow.state_removed": ("-", N_("state %(target)s removed")),
    "workflow.state_changed": ("~", N_("state %(target)s: %(key)s %(old)s → %(new)s")),
    "workflow.transition_added": ("+", N_("transition %(target)s added: %(new)s")),
    "workflow.transition_removed": ("-", N_("transition %(target)s removed")),
    "workflow.transition_changed": ("~", N_("transition %(target)s: %(key)s %(old)s → %(new)s")),
    "approval.added": ("+", N_("approval flow %(target)s %(label)s added")),
    "approval.removed": ("-", N_("approval flow %(target)s %(label)s removed (flows under way keep their "
                                "definition)")),
    "approval.changed": ("~", N_("approval flow %(target)s: %(key)s %(old)s → %(new)s")),
    "approval.node_added": ("+", N_("node %(target)s added: %(new)s")),
    "approval.node_removed": ("-", N_("node %(target)s removed: %(old)s")),
    "approval.node_changed": ("~", N_("node %(target)s: %(key)s %(old)s → %(new)s")),
}

STEP_KINDS = {
    "create_table": N_("create table"), "rename_table": N_("rename table"), "rename_column": N_("rename column"),
    "add_column": N_("add column"), "add_index": N_("add index"), "drop_index": N_("drop index"),
    "add_unique": N_("add unique constraint"), "drop_unique": N_("drop unique constraint"),
    "add_foreign_key": N_("add reference"), "drop_foreign_key": N_("drop reference"),
    "alter_type": N_("change type"), "set_not_null": N_("make required"), "drop_not_null": N_("make optional"),
    "alter_comment": N_("change comment"), "drop_column": N_("drop column"), "drop_table": N_("drop table"),
    "keep_column": N_("keep column"), "keep_table": N_("keep table"), "unsupported": N_("unsupported change"),
    "never_reuse_ids": N_("never reuse ids"), "seed_ids": N_("seed ids"), "map_values": N_("map values"),
    "check_values": N_("check values"), "recompute": N_("recompute values"), "encrypt_values": N_("encrypt values"),
    "decrypt_values": N_("decrypt values"),
}

SOURCES = {
    "scratch": N_("planned on an empty database built at the old model: every step, nothing counted"),
    "database": N_("planned on the given database, which is at the old model: counted in it"),
    "given": N_("the plan given"),
}
NOTES = {
    "database-not-at-old": N_("the given database is not at the old model: the steps were planned on an empty "
                              "database built at it, and the database only counted rows and values"),
}


class _Words:
    """The catalogue of one language, and values written in it."""

    def __init__(self, language: str):
        self.language = language
        self._gettext = translations(language).ugettext

    def __call__(self, message: str, **params: Any) -> str:
        translated = self._gettext(message)
        return translated % params if params else translated

    _ = __call__  # inside the class, `self._("...")`: the name message extraction looks for

    def value(self, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self._("yes") if value else self._("no")
        if _is_label(value):
            return f"“{text(value, self.language)}”"
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v) if isinstance(v, dict) else str(v) for v in value) + "]"
        if isinstance(value, dict):
            if set(value) == {"table", "columns", "unique"}:  # an index
                return f"{value['table']}({', '.join(value['columns'])})" + (" UNIQUE" if value["unique"] else "")
            if set(value) == {"actions", "deny", "scope"}:  # a role's grant on an entity
                shown = self._("actions %(actions)s, scope %(scope)s", actions=", ".join(value["actions"]) or "—",
                             scope=value["scope"])
                return shown + ("; " + self._("denied %(deny)s", deny=", ".join(value["deny"])) if value["deny"] else "")
            if set(value) == {"check", "when", "field", "message"}:  # a rule
                return value["check"] + (f" ({self._('when')} {value['when']})" if value["when"] else "")
            if set(value) == {"group", "entities"}:
                return f"{self.value(value['group']) if value['group'] else '—'} {self.value(value['entities'])}"
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return str(value)


def _is_label(value: Any) -> bool:
    """{language: text}, e.g. {"en": "Customer", "zh": "客户"} (keys are language codes)."""
    return (isinstance(value, dict) and bool(value) and all(isinstance(v, str) for v in value.values())
            and all(isinstance(k, str) and _LANGUAGE.fullmatch(k) is not None for k in value))


def _form_summary(old: list, new: list, _: _Words) -> str:
    """What changed in a form layout: sections and fields placed or taken off."""
    def sections(tabs: list) -> dict[str, list[str]]:
        return {text(s["section"], _.language) or str(i + 1): s["fields"]
                for i, s in enumerate(s for tab in tabs for s in tab["sections"])}

    before, after = sections(old or []), sections(new or [])
    parts = []
    if set(after) - set(before):
        parts.append(_("sections added: %(names)s", names=", ".join(f"“{n}”" for n in after if n not in before)))
    if set(before) - set(after):
        parts.append(_("sections removed: %(names)s", names=", ".join(f"“{n}”" for n in before if n not in after)))
    placed_before = [f for fields in before.values() for f in fields]
    placed_after = [f for fields in after.values() for f in fields]
    if [f for f in placed_after if f not in placed_before]:
        parts.append(_("fields placed: %(names)s", names=", ".join(f for f in placed_after if f not in placed_before)))
    if [f for f in placed_before if f not in placed_after]:
        parts.append(_("fields taken off: %(names)s",
                           names=", ".join(f for f in placed_before if f not in placed_after)))
    return "; ".join(parts) or _("fields or sections reordered")


def change_line(change: Change, diff: Diff, _: _Words) -> str:
    if change.kind == "entity.changed" and change.key == "form":
        return f"  ~ {change.target}: " + _("form: %(summary)s",
                                               summary=_form_summary(change.old, change.new, _))
    mark, line = LINES.get(change.kind, ("~", "%(target)s: %(key)s %(old)s → %(new)s"))
    label = diff.labels.get(f"{change.category}:{change.target}")
    new = change.new
    if change.kind == "field.added" and isinstance(new, dict):
        new = f"{new['type']}" + (f", {_('required')}" if new.get("required") else "")
    params = {"target": change.target, "key": change.key or "", "old": _.value(change.old),
              "new": new if isinstance(new, str) and change.kind == "field.added" else _.value(new),
              "label": _.value(label) if label else ""}
    return f"  {mark} " + " ".join(_(line, **params).split())


def step_line(step: Step, _: _Words) -> str:
    line = f"{_(STEP_KINDS.get(step.kind, step.kind))} {step.target}: {step.detail}"
    if step.values is not None:
        counted = (_("%(n)s rows in the database", n=step.values) if step.kind in ("drop_table", "keep_table")
                   else _("%(n)s non-empty values in the database", n=step.values))
        line += f" [{counted}]"
    return line


def render(diff: Diff, language: str = "en") -> str:
    """The diff as text, in English ("en") or Chinese ("zh")."""
    _ = _Words(language)
    if not diff.different:
        return _("No differences between %(old)s (%(old_version)s) and %(new)s (%(new_version)s).",
                     old=diff.old.project, old_version=diff.old.version, new=diff.new.project,
                     new_version=diff.new.version)
    lines = [_("Differences from %(old)s (%(old_version)s) to %(new)s (%(new_version)s): %(n)s change(s)",
                   old=diff.old.project, old_version=diff.old.version, new=diff.new.project,
                   new_version=diff.new.version, n=len(diff.changes))]
    for category in CATEGORIES:
        changes = diff.of(category)
        if changes:
            lines.append(f"{_(HEADINGS[category])} ({len(changes)})")
            lines += [change_line(c, diff, _) for c in changes]
    if diff.migration is not None:
        lines += _migration_lines(diff.migration, _)
    return "\n".join(lines)


def _migration_lines(migration: Migration, _: _Words) -> list[str]:
    lines = [_("Migration (%(source)s; %(dialect)s)", source=_(SOURCES[migration.source]),
                   dialect=migration.dialect)]
    if not migration.steps:
        lines.append("  " + _("Nothing to migrate: the tables stay as they are."))
        return lines
    if migration.safe:
        lines.append("  " + _("Applied by `tailor migrate` (%(n)s):", n=len(migration.safe)))
        lines += [f"    + {step_line(s, _)}" for s in migration.safe]
    if migration.destructive:
        lines.append("  " + _("Destructive, applied only with --allow-destructive (%(n)s):",
                                  n=len(migration.destructive)))
        for step in migration.destructive:
            lines.append(f"    ! {step_line(step, _)}")
            if step.data_loss:
                lines.append("        " + _("would destroy: %(what)s", what=step.data_loss))
    if migration.blocked:
        lines.append("  " + _("Cannot be applied until the data is fixed (%(n)s):", n=len(migration.blocked)))
        for step in migration.blocked:
            lines.append(f"    x {step_line(step, _)}")
            lines.append(f"        {step.blocked}")
    if migration.kept:
        lines.append("  " + _("Kept, not in the model any more (%(n)s):", n=len(migration.kept)))
        lines += [f"    = {step_line(s, _)}" for s in migration.kept]
    lines.append("  " + _("Data touched:"))
    for item in migration.touched:
        rows = "" if item.rows is None else " " + _("(%(n)s rows)", n=item.rows)
        columns = (_("new table") if item.new else ", ".join(item.columns) if item.columns
                   else _("the whole table"))
        lines.append(f"    {item.table}{rows}: {columns}")
    for note in migration.notes:
        lines.append("  " + _("Note: %(note)s", note=_(NOTES[note]) if note in NOTES else note))
    return lines


def to_json(diff: Diff) -> dict[str, Any]:
    """The diff as JSON-able data with stable keys (docs/diff.md)."""
    counts = {category: len(diff.of(category)) for category in CATEGORIES}
    return {
        "format": JSON_FORMAT,
        "different": diff.different,
        "old": diff.old.to_json(),
        "new": diff.new.to_json(),
        "counts": counts,
        "changes": [c.to_json() for c in diff.changes],
        "migration": diff.migration.to_json() if diff.migration is not None else None,
    }


def from_json(data: dict[str, Any]) -> Diff:
    """A Diff back from `to_json`'s data (labels are not part of the JSON)."""
    from .changes import Change, Side, Touched

    migration = None
    if data.get("migration") is not None:
        m = data["migration"]
        migration = Migration(source=m["source"], dialect=m["dialect"], database=m["database"],
                              steps=tuple(Step(**{k: s[k] for k in Step.__dataclass_fields__}) for s in m["steps"]),
                              touched=tuple(Touched(t["table"], tuple(t["columns"]), t["rows"], t["new"])
                                            for t in m["touched"]),
                              notes=tuple(m["notes"]), sql=m.get("sql"))
    return Diff(old=Side(**data["old"]), new=Side(**data["new"]),
                changes=tuple(Change(c["kind"], c["target"], c["entity"], c["key"], c["old"], c["new"])
                              for c in data["changes"]),
                migration=migration)
