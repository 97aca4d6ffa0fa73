"""Composite fields: a value kept in text parts, plus NAME, the whole as one text.

A person's name and an address are typed in parts (first and last name; street, city…),
each stored in its column NAME_<part> through the `parts` mechanism (engine/fields/base.py),
and NAME holds the whole as one line, worked out from the parts on every write that
touches them (`derive`). Lists, sorting, filters, titles and search all work on NAME like
on any text column; expressions see NAME and every part as strings.

NAME itself is never input: callers write the parts, as NAME_<part> keys or as a mapping
`NAME: {first: ..., last: ...}` (NAME: null empties every part). A record that has a NAME
but no parts (the field was a `string` before) keeps that NAME until a part is written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar

import sqlalchemy as sa

from ..messages import N_, Message, message
from .base import FieldType, FieldValueError

# The words users meet, translated where shown (engine/messages.py).
EXPECTED_TEXT = N_("expected text")
TOO_LONG = N_("at most %(limit)s characters (got %(length)s)")
PART_EXPECTED_TEXT = N_("%(part)s: expected text")
PART_UNSTORABLE = N_("%(part)s: contains characters that cannot be stored")
PART_ONE_LINE = N_("%(part)s: one line only")
PART_TOO_LONG = N_("%(part)s: at most %(limit)s characters (got %(length)s)")
UNKNOWN_PARTS = N_("unknown part(s): %(unknown)s (parts: %(parts)s)")
FROM_PARTS = N_("is worked out from its parts: write %(keys)s (or %(example)s)")


class PartLabel(Message):
    """A part's label inside a message: lower case in English ("street: one line only"),
    the catalogue's label elsewhere (街道)."""

    def __new__(cls, label: str) -> PartLabel:
        self = str.__new__(cls, label.lower())
        self.msgid, self.params = label, {}
        return self

# Han, kana, Hangul (and the CJK extension planes): names and addresses in these scripts
# are written largest unit first, without spaces.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def is_cjk(text: str | None) -> bool:
    return bool(text) and CJK.search(text) is not None


def cjk_join(pieces: list[str]) -> str:
    """Pieces joined by spaces, except between two CJK characters (`上海市浦东新区`)."""
    result = ""
    for piece in pieces:
        if result and not (is_cjk(result[-1]) and is_cjk(piece[0])):
            result += " "
        result += piece
    return result


class CompositeType(FieldType):
    """Text parts and NAME, their whole (subclasses say how the parts make the whole)."""

    value_type = "string"
    options = frozenset({"mask"})
    can_be_unique = False
    allowed_in_rows = False
    part_lengths: ClassVar[dict[str, int]] = {}  # suffix -> at most this many characters
    multiline_parts: ClassVar[frozenset[str]] = frozenset()
    part_labels: ClassVar[dict[str, str]] = {}
    name_length: ClassVar[int] = 255

    def part_keys(self, field) -> dict[str, str]:
        """{suffix: key} in the type's order."""
        return {suffix: f"{field.name}_{suffix}" for suffix in self.parts}

    def sql_type(self, field):
        return sa.String(self.name_length)

    def columns(self, field):
        columns = [sa.Column(field.name, self.sql_type(field), nullable=True,
                             info={"field": field.name, "renamed_from": field.renamed_from})]
        for suffix, key in self.part_keys(field).items():
            old = f"{field.renamed_from}_{suffix}" if field.renamed_from else None
            columns.append(sa.Column(key, sa.String(self.part_lengths[suffix]), nullable=True,
                                     info={"field": field.name, "renamed_from": old}))
        return columns

    def form_keys(self, field):
        return list(self.part_keys(field).values())

    def input_kind(self, key, field):
        suffix = key[len(field.name) + 1:]
        return "textarea" if suffix in self.multiline_parts else "text"

    def part_label(self, suffix):
        return self.part_labels.get(suffix) or super().part_label(suffix)

    def coerce(self, value, field):
        """NAME as a filter value or a stored text (writes go through `read_input`)."""
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise FieldValueError(message(EXPECTED_TEXT))
        return str(value).strip() or None

    def validate(self, value, field):
        if isinstance(value, str) and len(value) > self.name_length:
            return [message(TOO_LONG, limit=self.name_length, length=len(value))]
        return []

    def coerce_part(self, suffix: str, value: Any) -> str | None:
        label = PartLabel(self.part_label(suffix))
        if value is None:
            return None
        if isinstance(value, (dict, list, bool)):
            raise FieldValueError(message(PART_EXPECTED_TEXT, part=label))
        text = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
        if _CONTROL.search(text):
            raise FieldValueError(message(PART_UNSTORABLE, part=label))
        if suffix in self.multiline_parts:
            lines = [" ".join(line.split()) for line in text.split("\n")]
            text = "\n".join(line for line in lines if line)
        else:
            if "\n" in text.strip():
                raise FieldValueError(message(PART_ONE_LINE, part=label))
            text = " ".join(text.split())
        limit = self.part_lengths[suffix]
        if len(text) > limit:
            raise FieldValueError(message(PART_TOO_LONG, part=label, limit=limit, length=len(text)))
        return text or None

    def read_input(self, data, field):
        keys = self.part_keys(field)
        result: dict[str, Any] = {}
        if field.name in data:
            given = data[field.name]
            if isinstance(given, Mapping):
                unknown = sorted(str(k) for k in given if k not in keys)
                if unknown:
                    raise FieldValueError(message(UNKNOWN_PARTS, unknown=", ".join(unknown), parts=", ".join(keys)))
                for suffix, key in keys.items():
                    if suffix in given:
                        result[key] = self.coerce_part(suffix, given[suffix])
            elif given is None or given == "":
                result.update({key: None for key in keys.values()})
            else:
                example = f"{field.name}: {{{', '.join(f'{s}: …' for s in list(keys)[:2])}}}"
                raise FieldValueError(message(FROM_PARTS, keys=", ".join(keys.values()), example=example))
        for suffix, key in keys.items():
            if key in data:
                result[key] = self.coerce_part(suffix, data[key])
        return result

    def masked_keys(self, field) -> list[str]:
        return self.input_keys(field)  # the whole and every part

    def derive(self, record, field, old) -> None:
        keys = self.part_keys(field)
        parts = {suffix: record.get(key) for suffix, key in keys.items()}
        had_parts = old is not None and any(old.get(key) for key in keys.values())
        if old is not None and not had_parts and not any(parts.values()):
            return  # a NAME without parts (from before the field was composite) is kept
        self.check_parts(parts)
        record[field.name] = self.whole(parts) or None

    def check_parts(self, parts: Mapping[str, str | None]) -> None:
        """Refuse parts that make no sense together (FieldValueError)."""

    def whole(self, parts: Mapping[str, str | None]) -> str:
        raise NotImplementedError

    def search_texts(self, record, field):
        texts = [record.get(field.name), *(record.get(key) for key in self.part_keys(field).values())]
        return list(dict.fromkeys(t for t in texts if isinstance(t, str) and t))
