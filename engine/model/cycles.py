"""References that go round: a customer's main contact is a contact, a contact's customer is
a customer. No order of CREATE TABLE satisfies both, so each reference inside such a cycle
is marked `use_alter`: a database that can alter tables (PostgreSQL) creates the tables
first and adds those references after (the migration planner plans them as their own
steps); SQLite declares them inline, where a reference to a table created later is fine.
A table's reference to itself needs nothing: it is in its own CREATE TABLE."""

from __future__ import annotations

import sqlalchemy as sa


def mark_reference_cycles(metadata: sa.MetaData) -> None:
    graph: dict[str, set[str]] = {name: set() for name in metadata.tables}
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target != table.name and target in graph:
                graph[table.name].add(target)
    component = _components(graph)
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            target = fk.referred_table.name
            if target != table.name and component.get(target) == component[table.name]:
                fk.use_alter = True


def _components(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each table's strongly connected component (Tarjan's algorithm, iterative: a project
    may have hundreds of entities)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = index[node]
                    if member == node:
                        break
    return component
