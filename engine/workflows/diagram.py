"""A flow drawn as SVG: nodes in rows from the start down to the end, the current node
highlighted and the path taken marked. Geometry only: the template
(templates/_flow_diagram.html) writes the SVG, escaping every label."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .definition import END, Flow

BOX_W, BOX_H = 150, 46
GAP_X, GAP_Y = 24, 38
MARGIN = 12


@dataclass
class Box:
    name: str
    label: str
    kind: str  # start, approval, cc, condition, parallel, end
    x: int
    y: int
    state: str = ""  # taken, current, or ""

    @property
    def cx(self) -> int:
        return self.x + BOX_W // 2

    @property
    def cy(self) -> int:
        return self.y + BOX_H // 2


@dataclass
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    taken: bool = False
    back: bool = False  # goes up (a loop): drawn as a curve
    label: str = ""


@dataclass
class Diagram:
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def layout(flow: Flow, language: str, taken: Iterable[str] = (), current: Iterable[str] = (),
           finished: bool = False, start_label: str = "Start", end_label: str = "End") -> Diagram:
    """Rows by distance from the start (breadth first), in the order nodes are met."""
    taken, current = set(taken), set(current)
    rows: list[list[str]] = [["__start"]]
    depth = {"__start": 0}
    queue = [flow.start]
    depth[flow.start] = 1
    order = [flow.start]
    while queue:
        name = queue.pop(0)
        for target in flow.successors(name):
            if target != END and target not in depth:
                depth[target] = depth[name] + 1
                queue.append(target)
                order.append(target)
    for name in flow.nodes:  # unreachable nodes (a checked flow has none) still get a place
        if name not in depth:
            depth[name] = max(depth.values()) + 1
            order.append(name)
    last = max(depth.values()) + 1
    for name in order:
        while len(rows) <= depth[name]:
            rows.append([])
        rows[depth[name]].append(name)
    rows.append(["__end"])
    depth["__end"] = last
    widest = max(len(r) for r in rows)
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    boxes: dict[str, Box] = {}
    for i, row in enumerate(rows):
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - row_width) // 2
        for j, name in enumerate(row):
            x, y = left + j * (BOX_W + GAP_X), MARGIN + i * (BOX_H + GAP_Y)
            if name == "__start":
                boxes[name] = Box(name, start_label, "start", x, y, "taken")
            elif name == "__end":
                boxes[name] = Box(name, end_label, "end", x, y, "taken" if finished else "")
            else:
                state = "current" if name in current else "taken" if name in taken else ""
                boxes[name] = Box(name, flow.node_label(name, language), flow.nodes[name]["type"], x, y, state)
    edges = [_edge(boxes["__start"], boxes[flow.start], True)]
    for name in order:
        node = flow.nodes[name]
        labels = {c["next"]: f"{i + 1}" for i, c in enumerate(node.get("cases") or [])}
        for target in flow.successors(name):
            target_box = boxes["__end"] if target == END else boxes[target]
            reached = target_box.state in ("taken", "current")
            edges.append(_edge(boxes[name], target_box, boxes[name].state == "taken" and reached,
                               labels.get(target, "•" if target == node.get("default") else "")))
    height = MARGIN * 2 + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    return Diagram(width, height, list(boxes.values()), edges)


def _edge(source: Box, target: Box, taken: bool, label: str = "") -> Edge:
    if target.y == source.y:  # side by side: a short line between them
        if target.x > source.x:
            return Edge(source.x + BOX_W, source.cy, target.x, target.cy, taken, False, label)
        return Edge(source.x, source.cy, target.x + BOX_W, target.cy, taken, False, label)
    back = target.y < source.y
    if back:
        return Edge(source.x + BOX_W, source.y + BOX_H // 2, target.x + BOX_W, target.y + BOX_H // 2, taken, True, label)
    return Edge(source.cx, source.y + BOX_H, target.cx, target.y, taken, False, label)
