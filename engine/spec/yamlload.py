"""Safe YAML loading that remembers where every value came from.

PyYAML's safe loader is used only to *compose* the node tree; we then build the Python
values ourselves so that
* every mapping and list knows the file, line and column of each of its entries
  (`PosDict.key_pos`, `PosDict.value_pos`, `PosList.item_pos`), which is how every later
  error can point at the exact place in the YAML;
* duplicate keys are an error (E102) — PyYAML silently keeps the last one;
* aliases, merge keys and custom tags are refused (E104): configuration must read the same
  to a person as to the engine, and aliases allow "billion laughs" expansion;
* values read as YAML 1.2 (what editors' YAML servers use): only `true`/`false` are
  booleans (`yes`, `no`, `on`, `off` stay text), dates stay text (`2024-01-31`; field types
  parse them), and mapping keys are always text (`no:` is a field named "no").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Position, Problems

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


class PosDict(dict):
    """A dict that knows the position of itself, of each key and of each value."""

    pos: Position
    key_pos: dict[Any, Position]
    value_pos: dict[Any, Position]
    value_style: dict[Any, str | None]  # YAML scalar style: None (plain), '"', "'", '|', '>'

    def __init__(self, *args, pos: Position | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pos = pos or Position("<unknown>")
        self.key_pos = {}
        self.value_pos = {}
        self.value_style = {}
        self.value_span = {}  # key -> (first line, first column, last line, lines of the file), 0-based

    def position_of(self, key: Any, *, of_key: bool = False) -> Position:
        table = self.key_pos if of_key else self.value_pos
        return table.get(key) or self.key_pos.get(key) or self.pos

    def position_in_value(self, key: Any, offset: int) -> Position:
        """Position of character `offset` inside a scalar value (for expression errors).
        Exact for plain, block (| >) and single-line quoted scalars without escapes;
        otherwise the start of the value."""
        pos = self.position_of(key)
        span = self.value_span.get(key)
        if span is None:
            return pos
        return _offset_position(pos.file, span, self.value_style.get(key), offset) or pos


def _offset_position(file: str, span, style, offset: int) -> Position | None:
    first, column, last, lines = span
    if style in ('"', "'"):
        text = lines[first][column + 1:]
        escaped = "\\" in text if style == '"' else "''" in text
        if first != last or escaped:
            return None
        return Position(file, first + 1, column + 2 + offset)
    if style in ("|", ">"):
        content = [i for i in range(first + 1, min(last + 1, len(lines)))]
        filled = [i for i in content if lines[i].strip()]
        if not filled:
            return None
        indent = len(lines[filled[0]]) - len(lines[filled[0]].lstrip(" "))
        return _walk(file, [(i, indent, lines[i][indent:]) for i in content], offset)
    pieces = [(first, column, lines[first][column:].rstrip())]
    for i in range(first + 1, min(last + 1, len(lines))):
        stripped = lines[i].lstrip()
        pieces.append((i, len(lines[i]) - len(stripped), stripped.rstrip()))
    return _walk(file, pieces, offset)


def _walk(file: str, pieces, offset: int) -> Position | None:
    remaining = offset
    for line, start, text in pieces:
        if remaining <= len(text):
            return Position(file, line + 1, start + 1 + remaining)
        remaining -= len(text) + 1  # the line break (or the space a fold leaves)
    return None


class PosList(list):
    """A list that knows the position of itself and of each item."""

    pos: Position
    item_pos: list[Position]

    def __init__(self, *args, pos: Position | None = None):
        super().__init__(*args)
        self.pos = pos or Position("<unknown>")
        self.item_pos = []

    def position_of(self, index: int) -> Position:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


class _Loader(yaml.SafeLoader):
    """Safe loader that remembers where each alias (*name) is used."""

    def __init__(self, stream):
        super().__init__(stream)
        self.alias_marks: list = []

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_marks.append(self.peek_event().start_mark)
        return super().compose_node(parent, index)


def node_position(node: Node, file: str) -> Position:
    return Position(file, node.start_mark.line + 1, node.start_mark.column + 1)


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml: ~10x faster composition


def _alias_marks(text: str) -> list:
    """Where aliases are used: asked only when the fast loader met a shared node."""
    return [e.start_mark for e in yaml.parse(text, Loader=yaml.SafeLoader) if isinstance(e, yaml.AliasEvent)]


def load_yaml_text(text: str, file: str, problems: Problems) -> Any:
    """Parse one YAML document; problems are added to `problems`, never raised."""
    loader = _FAST_LOADER(text) if _FAST_LOADER is not None else _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file)
            problems.add("E101", f"YAML syntax error: {exc.problem or exc}", pos,
                         "check indentation, quoting and that ':' is followed by a space")
            return None
        except yaml.YAMLError as exc:
            problems.add("E101", f"YAML syntax error: {exc}", Position(file))
            return None
        if root is None:
            return None
        builder = _Builder(loader, file, problems, text.splitlines())
        result = builder.build(root)
        if builder.shared_nodes:
            marks = getattr(loader, "alias_marks", None) or _alias_marks(text)
            for mark in marks:
                problems.add("E104", "YAML aliases (*name) are not allowed",
                             Position(file, mark.line + 1, mark.column + 1), "write the value out in full")
        return result
    finally:
        loader.dispose()


def load_yaml_file(path: Path, problems: Problems, display: str | None = None) -> Any:
    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add("E103", f"file not found: {display}", Position(display))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add("E103", f"cannot read {display}: {exc}", Position(display),
                     "files must be UTF-8 text")
        return None
    return load_yaml_text(text, display, problems)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str, problems: Problems, lines: list[str]):
        self.lines = lines
        self.loader = loader
        self.file = file
        self.problems = problems
        self.seen: set[int] = set()
        self.shared_nodes = 0

    def build(self, node: Node) -> Any:
        pos = node_position(node, self.file)
        if id(node) in self.seen:
            self.shared_nodes += 1
            return None  # an alias: reported where it is used (load_yaml_text)
        self.seen.add(id(node))
        if node.tag not in _STANDARD_TAGS:
            self.problems.add("E104", f"YAML tag {node.tag!r} is not allowed", pos,
                              "remove the '!tag'; Tailor files hold plain data")
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, pos)
        if isinstance(node, SequenceNode):
            result = PosList(pos=pos)
            for item in node.value:
                result.append(self.build(item))
                result.item_pos.append(node_position(item, self.file))
            return result
        assert isinstance(node, ScalarNode)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # dates stay text
        if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: yes/no/on/off are text
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.add("E101", f"invalid value: {exc}", pos)
            return None

    def _mapping(self, node: MappingNode, pos: Position) -> PosDict:
        result = PosDict(pos=pos)
        for key_node, value_node in node.value:
            key_pos = node_position(key_node, self.file)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.add("E104", "YAML merge keys (<<) are not allowed", key_pos,
                                  "use 'extends:' in tailor.yaml to reuse a base project")
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.add("E101", "a mapping key must be a plain value", key_pos)
                continue
            self.build(key_node)  # tags and aliases are refused in keys too
            key = key_node.value  # keys are always text: `no:` is the name "no", not False
            if key in result:
                first = result.key_pos[key]
                self.problems.add("E102", f"duplicate key {key!r} (first defined at line {first.line})",
                                  key_pos, "remove one of them; YAML would silently keep only the last")
                continue
            result[key] = self.build(value_node)
            result.key_pos[key] = key_pos
            result.value_pos[key] = node_position(value_node, self.file)
            if isinstance(value_node, ScalarNode):
                result.value_style[key] = value_node.style
                result.value_span[key] = (value_node.start_mark.line, value_node.start_mark.column,
                                          value_node.end_mark.line, self.lines)
        return result


def plain(value: Any) -> Any:
    """Strip position wrappers: plain dicts and lists (for hashing and JSON)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
