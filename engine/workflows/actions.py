"""Workflow actions: what a transition, a flow event (submit, approve, reject, withdraw) or
an approval node does besides moving the state.

In YAML each action is a one-key mapping, the action's name holding its arguments:

    actions:
      - set: {approved_on: "today()", notes: "'approved by finance'"}
      - create: {entity: activity, values: {subject: "'Order approved'", parent: customer,
                                            parent_entity: "'customer'"}}
      - notify: {to: [{field: owner}], message: {en: Your order was approved, zh: 订单已审批通过}}

`set` and `create` values are expressions on the record (text in quotes: "'text'");
numbers and booleans are taken as they are. Actions run inside the transaction of the
change that triggers them: if one fails, nothing of the change is saved. The built-in
actions register through the `tailor_workflow_actions` hook like a plugin's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import did_you_mean
from ..spec.yamlload import PosDict


@dataclass
class ActionRun:
    """What an action sees when it runs. `flows` is the flow engine (engine.workflows.Flows):
    `flows.service` is the records service, `flows.notify(...)` sends notifications."""

    flows: Any
    entity: Any  # engine.model.Entity
    record: dict[str, Any]
    context: Any  # engine.records.Context of the user whose step triggered it
    submitter: int | None = None
    flow_id: int | None = None

    def evaluate(self, source: Any, expected: str | None = None) -> Any:
        """A value: an expression (text) evaluated on the record, or a YAML literal."""
        if not isinstance(source, str):
            return source
        expression = self.flows.expression(self.entity, source, expected)
        return expression.evaluate(self.record, self.context.variables, self.context.now)


@dataclass
class ActionCheck:
    """What an action's start-up check sees: `checker.add(code, message, where, hint)`,
    `checker.compile(key, holder, item, env, expected)`, the entity and its fields."""

    checker: Any
    entity: str
    fields: Mapping[str, Any]
    args: Any
    holder: PosDict  # the action mapping: holder.position_of(name)
    name: str
    key: tuple  # a unique prefix for compiled expressions

    def where(self):
        return self.holder.position_of(self.name)


@dataclass(frozen=True)
class WorkflowAction:
    name: str
    run: Callable[[ActionRun, Any], None]
    check: Callable[[ActionCheck], None] | None = None
    description: str = ""


def _value_type(checker: Any, fspec: Any) -> str | None:
    vt = checker.value_type(fspec) if isinstance(fspec, Mapping) else None
    return None if vt in (None, "list") else vt


def _part_types(checker: Any, fields: PosDict) -> dict[str, str]:
    """Keys a field stores beside itself (NAME_entity of a polymorphic link), by type."""
    found: dict[str, str] = {}
    for fname, fspec in fields.items():
        ftype = checker.checker.types.get(fspec.get("type")) if isinstance(fspec, PosDict) else None
        if ftype is not None:
            found.update({f"{fname}_{suffix}": kind for suffix, kind in ftype.part_types(fspec).items()})
    return found


def _check_values(check: ActionCheck, target: str, values: Any, key: tuple) -> None:
    """Each `field: expression` names a stored field of `target` and compiles against the
    fields of the record the action runs on (`check.entity`)."""
    spec = check.checker.spec.entities.get(target)
    fields = spec.get("fields") if isinstance(spec, PosDict) else None
    env = check.checker.envs.get(check.entity)
    if not isinstance(values, PosDict) or not isinstance(fields, PosDict):
        return
    parts = _part_types(check.checker, fields)
    for fname, value in values.items():
        fspec = fields.get(fname)
        if fname in parts:  # a part stored beside its field (a polymorphic link's entity)
            if isinstance(value, str) and env is not None:
                check.checker.compile((*key, fname), values, fname, env, parts[fname])
            continue
        if fname != "owner" and (not isinstance(fspec, PosDict) or fspec.get("type") in ("computed", "lines")):
            check.checker.add("E307", f"action '{check.name}' sets unknown or computed field '{fname}' of '{target}'",
                              values.position_of(fname, of_key=True),
                              did_you_mean(fname, fields) or "set stored fields of the entity")
        elif isinstance(value, str) and env is not None:
            expected = "number" if fname == "owner" else _value_type(check.checker, fspec)
            check.checker.compile((*key, fname), values, fname, env, expected)


def _check_set(check: ActionCheck) -> None:
    if not isinstance(check.args, PosDict) or not check.args:
        check.checker.add("E907", "'set' needs a mapping of fields to values", check.where(),
                          "set: {approved_on: \"today()\"}")
        return
    _check_values(check, check.entity, check.args, check.key)


def _run_set(run: ActionRun, args: Mapping[str, Any]) -> None:
    fields = run.entity.fields
    changes = {}
    for name, source in args.items():
        field = fields.get(name)
        expected = None if field is None else field.type.value_type
        changes[name] = run.evaluate(source, None if expected in ("list", "lines") else expected)
    run.flows.set_fields(run.entity.name, run.record, changes, run.context)


def _check_create(check: ActionCheck) -> None:
    args = check.args
    target = args.get("entity") if isinstance(args, PosDict) else None
    if not isinstance(target, str) or target not in check.checker.spec.entities:
        check.checker.add("E907" if not isinstance(target, str) else "E306",
                          "'create' needs the entity to create" if not isinstance(target, str)
                          else f"'create' names unknown entity '{target}'",
                          args.position_of("entity") if isinstance(args, PosDict) else check.where(),
                          did_you_mean(str(target), check.checker.spec.entities) if isinstance(target, str)
                          else "create: {entity: activity, values: {subject: \"'Follow up'\"}}")
        return
    for key in args:
        if key not in ("entity", "values"):
            check.checker.add("E907", f"'create' has an unknown key '{key}'", args.position_of(key, of_key=True),
                              "create takes entity and values")
    _check_values(check, target, args.get("values"), check.key)  # evaluated on the triggering record


def _run_create(run: ActionRun, args: Mapping[str, Any]) -> None:
    target = run.flows.service.model.entity(args["entity"])
    values = {}
    parts = {key: kind for f in target.fields.values() for key, kind in
             ((f"{f.name}_{suffix}", kind) for suffix, kind in f.type.part_types(f.spec).items())}
    for name, source in (args.get("values") or {}).items():
        field = target.fields.get(name)
        expected = parts.get(name) if field is None else field.type.value_type
        values[name] = run.evaluate(source, None if expected in ("list", "lines") else expected)
    values.setdefault("owner", run.submitter or run.context.actor.id)
    run.flows.create_record(target.name, values, run.context)


def _check_notify(check: ActionCheck) -> None:
    args = check.args
    if not isinstance(args, PosDict) or not isinstance(args.get("to"), list) or not args.get("message"):
        check.checker.add("E907", "'notify' needs 'to' (approvers) and 'message'", check.where(),
                          "notify: {to: [{field: owner}], message: {en: Approved, zh: 已通过}}")
        return
    check.checker.check_approvers(check.entity, args["to"], f"action '{check.name}'")
    for key in args:
        if key not in ("to", "message"):
            check.checker.add("E907", f"'notify' has an unknown key '{key}'", args.position_of(key, of_key=True),
                              "notify takes to and message")


def _run_notify(run: ActionRun, args: Mapping[str, Any]) -> None:
    users = run.flows.resolve(args["to"], run.record, run.submitter)
    run.flows.notify(users, "message", run.entity.name, run.record, message=args["message"], flow_id=run.flow_id)


BUILTIN_ACTIONS = (
    WorkflowAction("set", _run_set, _check_set, "set fields of the record"),
    WorkflowAction("create", _run_create, _check_create, "create a record of an entity"),
    WorkflowAction("notify", _run_notify, _check_notify, "send an in-app (and e-mail) notification"),
)
