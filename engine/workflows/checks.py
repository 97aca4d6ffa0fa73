"""Start-up checks of workflows/*.yaml: everything JSON Schema cannot say, reported with
file, line, column and a stable code like every other YAML problem (E9xx, plus E306/E307
for unknown entities and fields and E5xx for expressions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Position, did_you_mean
from ..permissions.roles import ACTIONS
from ..spec.yamlload import PosDict, PosList
from .actions import ActionCheck, WorkflowAction
from .definition import END
from .resolvers import PEOPLE, Resolver, split_approver

NODE_KEYS = {
    "approval": {"approvers", "mode", "when_nobody", "skip_approved", "fields", "comment", "timeouts", "actions",
                 "next", "allow_self_approval"},
    "cc": {"to", "actions", "next"},
    "condition": {"cases", "default"},
    "parallel": {"branches", "join", "next"},
}
COMMON_KEYS = {"type", "label"}
LOCK_PEOPLE = ("submitter", "owner", "approvers")


class WorkflowChecker:
    """Checks every merged workflow; problems go to the project's checker."""

    def __init__(self, checker: Any, resolvers: Mapping[str, Resolver], actions: Mapping[str, WorkflowAction]):
        self.checker = checker
        self.spec = checker.spec
        self.envs = checker.envs
        self.resolvers = resolvers
        self.actions = actions
        self.roles = set(checker.spec.roles)

    # what ActionCheck users need
    def add(self, code: str, message: str, where: Position, hint: str | None = None) -> None:
        self.checker.add(code, message, where, hint)

    def compile(self, key: tuple, holder: PosDict, item: str, env: Any, expected: str | None) -> Any:
        return self.checker.compile(key, holder, item, env, expected)

    def value_type(self, fspec: Mapping) -> str | None:
        return self.checker.value_type(fspec)

    # -- entry ---------------------------------------------------------------------------------
    def run(self, workflows: Mapping[str, PosDict]) -> list[str]:
        """Check them all; returns the transition names (actions roles may grant)."""
        names: list[str] = []
        by_entity: dict[str, str] = {}
        for name, workflow in workflows.items():
            entity = workflow.get("entity")
            if isinstance(entity, str) and entity in by_entity:
                self.add("E902", f"entity '{entity}' has two workflows: '{by_entity[entity]}' and '{name}'",
                         workflow.position_of("entity"), "one workflow per entity: merge them")
                continue
            if isinstance(entity, str):
                by_entity[entity] = name
            names += self.workflow(name, workflow)
        return names

    def workflow(self, name: str, wf: PosDict) -> list[str]:
        entity = wf.get("entity")
        if entity not in self.spec.entities:
            self.add("E306", f"workflow '{name}' names unknown entity '{entity}'", wf.position_of("entity"),
                     did_you_mean(str(entity), self.spec.entities))
            return []
        fields = self.spec.entities[entity].get("fields")
        fields = fields if isinstance(fields, PosDict) else PosDict()
        state_field = wf.get("field")
        fspec = fields.get(state_field)
        if not isinstance(fspec, PosDict):
            self.add("E307", f"workflow '{name}' names unknown field '{state_field}' of '{entity}'",
                     wf.position_of("field"), did_you_mean(str(state_field), fields))
            return []
        if fspec.get("type") != "choice":
            self.add("E902", f"the state field '{state_field}' of workflow '{name}' is a {fspec.get('type')} field",
                     wf.position_of("field"), "the state field must be a choice field: its options are the states")
            return []
        options = [o.get("value") if isinstance(o, dict) else o for o in fspec.get("options") or []]
        states = [str(o) for o in options]
        self.fields = fields
        self.entity = entity
        self.states = states
        self.where = f"workflow '{name}'"
        state_rules = wf.get("states") if isinstance(wf.get("states"), PosDict) else PosDict()
        for state, rule in state_rules.items():
            self.state_name(state, state_rules.position_of(state, of_key=True))
            if isinstance(rule, PosDict):
                self.field_names(rule.get("fields"), f"state '{state}'")
                roles = rule.get("roles")
                for role, rules in roles.items() if isinstance(roles, PosDict) else ():
                    self.role_name(role, roles.position_of(role, of_key=True))
                    self.field_names(rules, f"state '{state}'")
        flows = wf.get("approvals") if isinstance(wf.get("approvals"), PosDict) else PosDict()
        transitions = wf.get("transitions") if isinstance(wf.get("transitions"), PosDict) else PosDict()
        for tname, t in transitions.items():
            if isinstance(t, PosDict) and self.has_keys(t, ("from", "to"), f"transition '{tname}'"):
                self.transition(name, tname, t, transitions.position_of(tname, of_key=True), flows)
        for fname, flow in flows.items():
            if isinstance(flow, PosDict) and self.has_keys(flow, ("nodes",), f"approval flow '{fname}'"):
                self.flow(name, fname, flow)
        return list(transitions)

    def has_keys(self, holder: PosDict, keys: tuple[str, ...], what: str) -> bool:
        """Keys a layer may leave out but the merged workflow needs (E203, as the schema would)."""
        missing = [k for k in keys if k not in holder]
        for key in missing:
            self.add("E203", f"{self.where}, {what} needs the key '{key}'", holder.pos)
        return not missing

    # -- pieces --------------------------------------------------------------------------------
    def state_name(self, state: Any, where: Position) -> bool:
        if state not in self.states:
            self.add("E901", f"{self.where} names unknown state '{state}'", where,
                     did_you_mean(str(state), self.states) or f"states are the options: {', '.join(self.states)}")
            return False
        return True

    def role_name(self, role: Any, where: Position) -> None:
        if self.roles and role not in self.roles:
            self.add("E909", f"{self.where} names unknown role '{role}'", where,
                     did_you_mean(str(role), self.roles) or "roles are defined in roles.yaml")
        elif not self.roles:
            self.add("E909", f"{self.where} names role '{role}', but the project has no roles.yaml", where,
                     "define the role in roles.yaml")

    def field_names(self, names: Any, what: str) -> None:
        items = names.items() if isinstance(names, PosDict) else enumerate(names) if isinstance(names, PosList) else ()
        for key, value in items:
            fname = key if isinstance(names, PosDict) else value
            where = names.position_of(key, of_key=True) if isinstance(names, PosDict) else names.position_of(key)
            if fname not in self.fields and fname != "owner":
                self.add("E307", f"{self.where}, {what}: unknown field '{fname}' of '{self.entity}'", where,
                         did_you_mean(str(fname), self.fields))

    def expression(self, key: tuple, holder: PosDict, item: str) -> None:
        env = self.envs.get(self.entity)
        if env is not None and isinstance(holder.get(item), str):
            self.compile(key, holder, item, env, "boolean")

    def transition(self, wf: str, name: str, t: PosDict, where: Position, flows: PosDict) -> None:
        if name in ACTIONS:
            self.add("E908", f"transition '{name}' has the name of a built-in action", where,
                     f"call it e.g. '{name}_record'")
        sources = t.get("from")
        for i, state in enumerate(sources if isinstance(sources, PosList) else [sources]):
            if state != "*":
                self.state_name(state, sources.position_of(i) if isinstance(sources, PosList)
                                else t.position_of("from"))
        self.state_name(t.get("to"), t.position_of("to"))
        for i, role in enumerate(t.get("roles") or []):
            self.role_name(role, t["roles"].position_of(i))
        self.expression(("workflow", wf, "transition", name, "when"), t, "when")
        self.expression(("workflow", wf, "transition", name, "condition"), t, "condition")
        self.field_names(t.get("requires"), f"transition '{name}'")
        self.action_list(t.get("actions"), ("workflow", wf, "transition", name))
        flow = t.get("approval")
        if flow is not None and flow not in flows:
            self.add("E908", f"transition '{name}' starts unknown approval flow '{flow}'", t.position_of("approval"),
                     did_you_mean(str(flow), flows) or "define it under approvals:")

    def action_list(self, actions: Any, key: tuple) -> None:
        for i, item in enumerate(actions if isinstance(actions, PosList) else ()):
            if not isinstance(item, PosDict) or len(item) != 1:
                continue
            name = next(iter(item))
            action = self.actions.get(name)
            if action is None:
                self.add("E907", f"{self.where} uses unknown action '{name}'", item.position_of(name, of_key=True),
                         did_you_mean(name, self.actions) or f"actions are {', '.join(sorted(self.actions))}")
            elif action.check is not None:
                action.check(ActionCheck(self, self.entity, self.fields, item[name], item, name, (*key, i, name)))

    def check_approvers(self, entity: str, approvers: Any, what: str) -> None:
        """Each item names exactly one resolver and gives it the arguments it needs."""
        for i, item in enumerate(approvers if isinstance(approvers, PosList) else ()):
            where = approvers.position_of(i)
            if not isinstance(item, PosDict):
                self.add("E904", f"{what}: an approver is a mapping such as {{manager: owner}}", where)
                continue
            resolver, also = split_approver(item, self.resolvers)
            if resolver is None:
                key = next(iter(item), "")
                self.add("E904", f"{what}: unknown approver resolver '{key}'", item.position_of(key, of_key=True),
                         did_you_mean(str(key), self.resolvers) or f"resolvers: {', '.join(sorted(self.resolvers))}")
                continue
            if also:
                self.add("E904", f"{what}: one approver names two resolvers ({resolver.name}, {also[0]})", where,
                         "write one approver per resolver")
                continue
            self.argument(resolver, resolver.name, resolver.main, item, what, main=True)
            for key in item:
                if key == resolver.name:
                    continue
                if key not in resolver.arguments:
                    self.add("E904", f"{what}: resolver '{resolver.name}' has no argument '{key}'",
                             item.position_of(key, of_key=True),
                             did_you_mean(key, resolver.arguments) or
                             f"its arguments: {', '.join(resolver.arguments) or 'none besides its own key'}")
                else:
                    self.argument(resolver, key, resolver.arguments[key], item, what)
            for key, argument in resolver.arguments.items():
                if argument.required and key not in item:
                    self.add("E904", f"{what}: resolver '{resolver.name}' needs the argument '{key}'", where,
                             argument.help or None)
            for message in resolver.check(dict(item)) if resolver.check else ():
                self.add("E904", f"{what}: {message}", where)

    def argument(self, resolver: Resolver, key: str, argument: Any, item: PosDict, what: str,
                 main: bool = False) -> None:
        value = item.get(key)
        where = item.position_of(key)
        if value is None or value == "":
            self.add("E904", f"{what}: resolver '{resolver.name}' is missing its argument", where, argument.help)
            return
        kind = argument.kind
        if kind == "person":
            if value not in PEOPLE and not self.user_field(value):
                self.add("E904", f"{what}: '{value}' is not submitter, owner or a user field of '{self.entity}'",
                         where, argument.help)
        elif kind == "user_field":
            if value != "owner" and not self.user_field(value):
                self.add("E904", f"{what}: '{value}' is not a user field of '{self.entity}'", where,
                         did_you_mean(str(value), self.fields) or argument.help)
        elif kind == "role":
            self.role_name(value, where)
        elif kind == "number":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self.add("E904", f"{what}: '{key}' of resolver '{resolver.name}' must be a whole number", where)
        elif kind == "usernames":
            names = value if isinstance(value, list) else [value]
            if not names or not all(isinstance(n, str) and n for n in names):
                self.add("E904", f"{what}: '{key}' must be a username or a list of usernames", where)

    def user_field(self, name: Any) -> bool:
        fspec = self.fields.get(name)
        return name in ("owner", "created_by") or (isinstance(fspec, PosDict) and fspec.get("type") == "user")

    # -- approval flows ------------------------------------------------------------------------
    def flow(self, wf: str, name: str, flow: PosDict) -> None:
        what = f"approval flow '{name}'"
        nodes = flow.get("nodes") if isinstance(flow.get("nodes"), PosDict) else PosDict()
        start = flow.get("start") or next(iter(nodes), None)
        if start is not None and start not in nodes:
            self.add("E906", f"{what} starts at unknown node '{start}'", flow.position_of("start"),
                     did_you_mean(str(start), nodes))
            return
        outcomes = flow.get("outcomes")
        for key, state in outcomes.items() if isinstance(outcomes, PosDict) else ():
            self.state_name(state, outcomes.position_of(key))
        lock = flow.get("lock")
        editors = lock.get("editable_by") if isinstance(lock, PosDict) else None
        for i, who in enumerate(editors if isinstance(editors, PosList) else ()):
            if who not in LOCK_PEOPLE:
                self.role_name(who, editors.position_of(i))
        self.expression(("workflow", wf, "approval", name, "start_when"), flow, "start_when")
        for event in ("submit", "approve", "reject", "withdraw"):
            self.action_list(flow.get(f"on_{event}"), ("workflow", wf, "approval", name, event))
        unknown_before = self.unknown_nodes()
        for node_name, node in nodes.items():
            if isinstance(node, PosDict):
                self.node(wf, name, node_name, node, nodes, f"{what}, node '{node_name}'")
        if start is not None and self.unknown_nodes() == unknown_before:  # the graph is whole
            self.graph(what, start, nodes)

    def unknown_nodes(self) -> int:
        return sum(1 for p in self.checker.problems.items if p.code == "E906")

    def node(self, wf: str, flow: str, name: str, node: PosDict, nodes: PosDict, what: str) -> None:
        if not self.has_keys(node, ("type",), f"node '{name}'"):
            return
        kind = node.get("type")
        if kind not in NODE_KEYS:
            return  # the schema reported it
        for key in node:
            if key not in NODE_KEYS[kind] and key not in COMMON_KEYS:
                self.add("E910", f"{what}: '{key}' does nothing on a {kind} node", node.position_of(key, of_key=True),
                         f"a {kind} node takes {', '.join(sorted(NODE_KEYS[kind]))}")
        needs = {"approval": ("approvers",), "cc": ("to",), "condition": ("cases", "default"),
                 "parallel": ("branches", "next")}[kind]
        for key in needs:
            if key not in node:
                self.add("E910", f"{what}: a {kind} node needs '{key}'", node.position_of("type"))
        for key in ("next", "default"):
            target = node.get(key)
            if target is not None and target != END and target not in nodes:
                self.add("E906", f"{what}: '{key}' names unknown node '{target}'", node.position_of(key),
                         did_you_mean(str(target), nodes) or "or 'end'")
        for i, case in enumerate(node.get("cases") or []):
            if not isinstance(case, PosDict):
                continue
            target = case.get("next")
            if target != END and target not in nodes:
                self.add("E906", f"{what}: case {i + 1} goes to unknown node '{target}'", case.position_of("next"),
                         did_you_mean(str(target), nodes))
            self.expression(("workflow", wf, "approval", flow, name, "case", i), case, "when")
        for i, branch in enumerate(node.get("branches") or []):
            if branch not in nodes:
                self.add("E906", f"{what}: branch '{branch}' is not a node", node["branches"].position_of(i),
                         did_you_mean(str(branch), nodes))
        self.check_approvers(self.entity, node.get("approvers"), what)
        self.check_approvers(self.entity, node.get("to"), what)
        nobody = node.get("when_nobody")
        if isinstance(nobody, str) and nobody not in ("approve", "admin") and not nobody.replace(".", "").isalnum():
            self.add("E904", f"{what}: when_nobody is approve, admin or a username", node.position_of("when_nobody"))
        self.field_names(node.get("fields"), f"node '{name}'")
        for i, timeout in enumerate(node.get("timeouts") or []):
            if not isinstance(timeout, PosDict):
                continue
            where = node["timeouts"].position_of(i)
            if ("after" in timeout) == ("field" in timeout):
                self.add("E910", f"{what}: a timeout needs either 'after' or 'field'", where,
                         "after: 48h, or field: close_date with offset: -1d")
            if "offset" in timeout and "field" not in timeout:
                self.add("E910", f"{what}: 'offset' goes with 'field'", timeout.position_of("offset"))
            due = timeout.get("field")
            if due is not None:
                fspec = self.fields.get(due)
                if not isinstance(fspec, PosDict) or fspec.get("type") not in ("date", "datetime"):
                    self.add("E307", f"{what}: timeout field '{due}' is not a date or datetime field of "
                             f"'{self.entity}'", timeout.position_of("field"), did_you_mean(str(due), self.fields))
        self.action_list(node.get("actions"), ("workflow", wf, "approval", flow, name))

    def graph(self, what: str, start: str, nodes: PosDict) -> None:
        """Every node reachable from the start; every reachable node able to reach the end;
        every parallel branch reaching its join."""
        def successors(name: str) -> list[str]:
            node = nodes.get(name)
            if not isinstance(node, PosDict):
                return []
            found = [c.get("next") for c in node.get("cases") or [] if isinstance(c, PosDict)]
            found += [node.get("default"), *(node.get("branches") or []), node.get("next")]
            return [n for n in found if isinstance(n, str)]

        reached = _reach([start], successors)
        for name in nodes:
            if name not in reached:
                self.add("E903", f"{what}: node '{name}' cannot be reached from '{start}'",
                         nodes.position_of(name, of_key=True), "point a 'next', a case or a branch to it, or remove it")
        ending = {n for n in reached if END in _reach([n], successors)}
        for name in nodes:
            if name in reached and name not in ending:
                self.add("E905", f"{what}: node '{name}' is in a cycle without an exit: the flow could never end",
                         nodes.position_of(name, of_key=True), "give one node of the cycle a way to 'end'")
        for name, node in nodes.items():
            if not isinstance(node, PosDict) or node.get("type") != "parallel" or name not in ending:
                continue
            join = node.get("next")
            for branch in node.get("branches") or []:
                path = _reach([branch], lambda n, j=join: [] if n == j else successors(n))
                if join not in path or END in path:
                    self.add("E910", f"{what}: branch '{branch}' of parallel node '{name}' does not always reach "
                             f"'{join}', where the branches join", node.position_of("branches"),
                             f"end the branch with next: {join}")


def _reach(starts: list[str], successors: Any) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current != END:
            todo.extend(successors(current))
    return seen
