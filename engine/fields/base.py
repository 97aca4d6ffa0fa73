"""What a field type is: storage, value conversion, validation and spec checks in one object.

Built-in types and plugin types are the same kind of object and arrive through the same
hook (`tailor_field_types`). A type decides:
* which YAML options it accepts (`options`) and which it needs (`required_options`);
* which columns it stores in (`columns`), or none (`storage = "none"`: virtual computed),
  or a table of its own (`storage = "table"`: links, lines);
* how user input becomes a Python value (`coerce`), raising `FieldValueError` with a
  message a user can act on;
* the value type the expression language sees (`value_type`), and the parts it keeps
  beside NAME (`parts`), with the keys worked out from others on every write (`derive`);
* how pages show it (`display`, `form_keys` for a field typed in several inputs) and what
  it adds to the search key (`search_texts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from ..model.model import Field

COMMON_OPTIONS = frozenset({
    "type", "label", "help", "required", "unique", "default", "index", "readonly", "hidden",
    "visible_when", "required_when", "readonly_when", "renamed_from", "validators", "placeholder",
    "copy_from",  # checked per type by engine/spec/link_rules.py (not on computed, rows, links…)
})


class FieldValueError(ValueError):
    """A value that does not fit the field; the message is shown to the user. A field that
    holds several values (e-mails, phones) says which of them are wrong in `items`:
    {item number: messages}, reported under `NAME.<number>` (`emails.2`)."""

    def __init__(self, message: str = "", items: Mapping[int, list[str]] | None = None):
        super().__init__(message)
        self.message = message  # (a Message keeps its id: engine/messages.py; str(exc) would not)
        self.items = dict(items or {})


MASKS = ("phone", "email", "name")  # how `mask:` shows a value (engine/records/masking.py)


def check_mask(spec: Mapping[str, Any], report) -> None:
    """`mask:` names one of MASKS (E407)."""
    mask = spec.get("mask")
    if mask is not None and mask not in MASKS:
        report("E407", f"unknown mask '{mask}' (use one of {', '.join(MASKS)})", "mask")


class FieldType:
    name: ClassVar[str] = ""
    value_type: ClassVar[str] = "any"
    options: ClassVar[frozenset[str]] = frozenset()
    required_options: ClassVar[tuple[str, ...]] = ()
    storage: ClassVar[str] = "column"  # column | none | table
    # Keys a field stores beside NAME, each in a column NAME_<suffix>, with the value type
    # expressions see: money has {"currency": "string"}, a person's name its parts.
    parts: ClassVar[dict[str, str]] = {}
    sortable: ClassVar[bool] = True
    derived: ClassVar[bool] = False  # values the engine works out (rollups): never written by callers
    can_be_unique: ClassVar[bool] = True
    # whether the field may be a sub-field of child rows (`lines`) or a link's `payload`
    allowed_in_rows: ClassVar[bool] = True
    description: ClassVar[str] = ""

    @property
    def allowed_options(self) -> frozenset[str]:
        return COMMON_OPTIONS | self.options

    def sql_type(self, field: Field) -> sa.types.TypeEngine:
        raise NotImplementedError

    def columns(self, field: Field) -> list[sa.Column]:
        if self.storage != "column":
            return []
        return [sa.Column(field.name, self.sql_type(field), nullable=True,
                          info={"field": field.name, "renamed_from": field.renamed_from})]

    def coerce(self, value: Any, field: Field) -> Any:
        """Convert input (JSON value or form text) to the stored Python value."""
        return value

    def validate(self, value: Any, field: Field) -> list[str]:
        """Type-specific checks beyond coercion (ranges are checked here too)."""
        return []

    def part_types(self, spec: Mapping[str, Any]) -> dict[str, str]:
        """The parts (suffix -> expression value type) a field with this spec stores beside
        NAME; by default the type's `parts` (a type may drop some, depending on options)."""
        return dict(self.parts)

    def input_keys(self, field: Field) -> list[str]:
        """Keys of a record dict this field reads and writes: NAME, then NAME_<part>."""
        return [field.name, *(f"{field.name}_{suffix}" for suffix in self.part_types(field.spec))]

    def form_keys(self, field: Field) -> list[str]:
        """The keys a form has an input for, in this order: those a caller writes. A type
        whose NAME is worked out from its parts (a person's full name) leaves NAME out; one
        whose part is worked out from NAME (whether a time was given) leaves the part out."""
        return self.input_keys(field)

    def form_values(self, record: Mapping[str, Any], field: Field) -> dict[str, Any]:
        """The value of each form key for a stored record (a type may offer a better start
        than an empty input, e.g. a full name split into its parts)."""
        return {key: record.get(key) for key in self.form_keys(field)}

    def input_kind(self, key: str, field: Field) -> str:
        """The kind of input a form shows for one of its keys: "text" or "textarea"."""
        return "text"

    def form_order(self, keys: list[str], field: Field, language: str) -> list[str]:
        """The form keys of a group of inputs in the order a user of `language` fills them
        in (a family name before the given name in Chinese); the form's order by default."""
        return keys

    def part_label(self, suffix: str) -> str:
        """A part's label in English (pages translate it; the built-in ones are in the
        catalogue): "First name" for a person name's `first`."""
        return suffix.replace("_", " ").capitalize()

    def derive(self, record: dict[str, Any], field: Field, old: Mapping[str, Any] | None) -> None:
        """Fill the keys worked out from others, once the record is complete (the new
        values merged into the stored ones, `old`; None on create): a person's full name
        from its parts. Raises FieldValueError for a combination that cannot be stored."""

    def read_input(self, data: Any, field: Field) -> dict[str, Any]:
        """Coerce this field's keys out of an input mapping; absent keys stay absent."""
        if field.name not in data:
            return {}
        return {field.name: self.coerce(data[field.name], field)}

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == [] or value == {}

    def to_row(self, value: Any, field: Field) -> dict[str, Any]:
        """Column values for a stored value."""
        return {field.name: value}

    def writes_as_is(self, field: Field) -> bool:
        """Whether `to_row` stores this field's value as it is, in its own column: the
        records service then copies it without calling `to_row` (every save does, for
        every field). A type overriding `to_row` answers False unless it says otherwise."""
        return type(self).to_row is FieldType.to_row

    def from_row(self, row: Any, field: Field) -> Any:
        return row.get(field.name)

    def reads_as_stored(self, field: Field) -> bool:
        """Whether `from_row` gives this field's column value as it is: the records service
        then copies it without calling `from_row` (a record is read for every row of a list
        and every saved record of an import). A type overriding `from_row` answers False
        unless it says otherwise."""
        return type(self).from_row is FieldType.from_row

    def column_names(self, field: Field) -> list[str]:
        return [c.name for c in self.columns(field)]

    def check_spec(self, spec: dict, report) -> None:
        """Extra semantic checks of a field spec; `report(code, message, key, hint)`."""

    def masked_keys(self, field: Field) -> list[str]:
        """The keys of a record that `mask:` hides (engine/records/masking.py): NAME, and
        whatever else holds the value (the parts of a person's name, the items of a list of
        phones). Only types that accept the `mask` option are asked."""
        return [field.name]

    def each_value(self, record: Mapping[str, Any], field: Field) -> list[tuple[str, Any]]:
        """The values the field's `validators` check, each with the suffix of its error key:
        NAME's value (suffix ""), or each of several values (".2": the second e-mail)."""
        return [("", record.get(field.name))]

    def fill_parts(self, record: Mapping[str, Any], field: Field) -> dict[str, Any] | None:
        """The parts of a stored record worked out from what it holds, for a migration that
        adds the part columns to rows that have values (an `email` field made `emails`):
        {key: value}. None (the default): new part columns stay empty."""
        return None

    def search_texts(self, record: Mapping[str, Any], field: Field) -> list[str]:
        """The text this field adds to its record's search key (every searchable field of
        an entity is folded into one key, see engine/records/search.py): by default its
        value when that is text. A phone adds its digits too; a list of e-mails each one."""
        value = record.get(field.name)
        return [value] if isinstance(value, str) and value else []

    def display(self, record: Mapping[str, Any], field: Field, language: str) -> str | None:
        """The value as plain text for pages (lists, record pages, exports), or None to let
        the page format it by its kind (numbers, dates, options, links...). Composite types
        (a person's name, an address, a duration) say here how they read."""
        return None

    def __repr__(self) -> str:
        return f"<FieldType {self.name}>"
