"""Problems found in a project, with stable error codes.

Modelled on Django's system checks (`admin.E108`, `fields.W340`): every problem has a code
that never changes meaning, a message, the file/line/column it comes from and, where one
helps, a hint. Loading collects *all* problems before reporting, and the CLI prints them as

    entities/customer.yaml:4:13: E301 unknown field type 'strng' (hint: did you mean 'string'?)

Codes starting with `W` are warnings: something works but will look unfinished (a label a
project language lacks). They never stop a project from loading; `tailor check` prints
them and still succeeds, and the compiled model keeps them (`CompiledModel.warnings`).

`docs/error-codes.md` documents every code in `CODES`; a test keeps the two in step, and
another test makes sure every code is produced by at least one bad project.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

# code -> one-line title. Never renumber; retire codes by leaving them documented.
CODES: dict[str, str] = {
    # E1xx: reading files
    "E101": "YAML syntax error",
    "E102": "duplicate key in a mapping",
    "E103": "file or folder missing",
    "E104": "YAML construct not allowed (tags, anchors/aliases)",
    "E105": "document is empty or not a mapping",
    # E2xx: JSON Schema (shape of each document)
    "E201": "unknown key",
    "E202": "value has the wrong type",
    "E203": "required key missing",
    "E204": "value not allowed",
    # E3xx: names and references
    "E301": "unknown field type",
    "E302": "name is reserved by the engine",
    "E303": "name is an SQL keyword",
    "E304": "invalid name",
    "E305": "entity defined twice",
    "E306": "unknown entity",
    "E307": "unknown field",
    "E308": "layout names a field that does not exist",
    "E309": "field placed twice in a layout",
    "E310": "name too long for the database once prefixed",
    "E311": "name used twice within an entity",
    "E312": "unknown option set",
    # E4xx: values and options
    "E401": "default is not one of the options",
    "E402": "value does not fit the field type",
    "E403": "minimum greater than maximum",
    "E404": "invalid regular expression",
    "E405": "invalid autonumber format",
    "E406": "option listed twice",
    "E407": "option not valid for this field type",
    "E408": "field type needs an option that is missing",
    "E409": "replaced_options names a current option or maps to a value that is not one",
    "E410": "rollup does not fit the records it aggregates",
    "E411": "encrypted fields without a usable encryption key",
    "E412": "expression would store or compare an encrypted field's clear text",
    "E413": "link filter does not fit",
    "E414": "copy_from does not fit the linked field",
    # E5xx: expressions
    "E501": "expression syntax error",
    "E502": "unknown name in expression",
    "E503": "unknown function in expression",
    "E504": "type mismatch in expression",
    "E505": "wrong number of arguments",
    "E506": "construct not allowed in expressions",
    # E6xx: layers and cycles
    "E601": "cycle in extends",
    "E602": "extends target is not a Tailor project",
    "E603": "cycle between computed fields",
    "E604": "override names something the base does not define",
    "E605": "renamed_from conflicts with another name",
    "E606": "designer change conflicts with the project's YAML",
    "E607": "malformed designer op",
    # E7xx: plugins
    "E701": "plugin not found",
    "E702": "plugin implements an unknown hook",
    "E703": "plugin failed to load",
    "E704": "plugin registered something twice",
    # roles and permissions
    "E801": "unknown action in a role",
    "E802": "unknown row scope in a role",
    # E9xx: workflows and approval flows
    "E901": "unknown state in a workflow",
    "E902": "workflow does not fit its entity",
    "E903": "approval node cannot be reached",
    "E904": "approver resolver unknown or missing arguments",
    "E905": "cycle without an exit in an approval flow",
    "E906": "unknown node in an approval flow",
    "E907": "unknown or malformed workflow action",
    "E908": "transition names an unknown approval flow or a reserved name",
    "E909": "workflow names an unknown role",
    "E910": "node lacks what its type needs",
    # E0xx: reports (reports/*.yaml); three-digit codes E1xx-E9xx were all taken
    "E001": "unknown or repeated measure in a report",
    "E002": "field cannot be grouped",
    "E003": "bucket on a field that is not a date",
    "E004": "field cannot be aggregated that way",
    "E005": "report uses a hidden field",
    "E006": "chart does not fit the report",
    "E007": "period field is not a date",
    "E008": "report names an unknown role",
    "E009": "a measure's from, since or currency does not fit",
    "E020": "dashboard shows an unknown report",
    "E021": "dashboard names an unknown role",
    "E022": "widget's chart does not fit its report",
    "E023": "dashboard has no widget",
    # W3xx: warnings about labels (the project loads; `tailor check` prints them)
    "W301": "option labels lack a project language",
    "W302": "field label lacks a project language",
    "W303": "entity label lacks a project language",
    "W304": "a text lacks a project language",
    # W4xx: warnings about what a rule may show a user (the project loads)
    "W401": "a link's filter reads a field some users may not see",
}


class Position(NamedTuple):
    """A place in a YAML file; line and column are 1-based as editors show them.
    (A named tuple: the loader makes one per YAML node, so it must be cheap.)"""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    position: Position
    hint: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"undocumented error code {self.code}")

    @property
    def is_warning(self) -> bool:
        return self.code.startswith("W")

    def __str__(self) -> str:
        text = f"{self.position}: {self.code} {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


def in_order(problems: Iterable[Problem]) -> list[Problem]:
    """Problems once each, by file, line and column."""
    return sorted(set(problems), key=lambda p: (p.position, p.code, p.message))


class ProjectError(Exception):
    """Raised with every problem found; the CLI prints them and exits with status 2.
    `warnings` holds the warnings found along the way (printed after the errors)."""

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()):
        self.problems = in_order(problems)
        self.warnings = in_order(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


class Problems:
    """Collects problems while a stage keeps going, so the user sees them all at once.
    Errors are `items`; warnings (W codes) go to `warnings` and never count as problems:
    `bool()`, `len()` and `raise_if_any()` look at errors only."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, code: str, message: str, position: Position, hint: str | None = None) -> None:
        problem = Problem(code, message, position, hint)
        (self.warnings if problem.is_warning else self.items).append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            (self.warnings if problem.is_warning else self.items).append(problem)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ProjectError(self.items, self.warnings)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    match = difflib.get_close_matches(str(word), sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
