"""person_name: salutation, first, middle and last name, suffix; NAME is the full name.

How the full name reads is decided by the characters of the name, not by who looks at it:

* a first or last name in Chinese, Japanese or Korean characters is written family name
  first, without spaces: last + middle + first (`张伟`); a salutation or suffix in those
  characters follows the name (`张伟先生`), one in Latin letters keeps its place with a
  space (`Dr. 张伟`);
* anything else reads salutation, first, middle, last, suffix with spaces
  (`Dr. Jane Q. Smith Jr.`).

A name needs a first or a last name: a salutation alone is refused, and `required` means a
first or a last name (one of the two is enough: people known by one name exist).
"""

from __future__ import annotations

from ..messages import message
from .base import FieldValueError, check_mask
from .composite import N_, CompositeType, is_cjk

FAMILY_NAME_FIRST = frozenset({"zh", "ja", "ko", "hu", "vi"})

# two-character Chinese family names, so that a full name typed in one piece (a field that
# was a string) is offered split right in forms
COMPOUND_SURNAMES = frozenset("欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 澹台 公冶 "
                              "宗政 濮阳 淳于 单于 太叔 申屠 轩辕 钟离 闻人 赫连 南宫 西门 独孤 端木".split())


def full_name(parts) -> str:
    salutation, first, middle, last, suffix = (parts.get(k) for k in ("salutation", "first", "middle", "last",
                                                                       "suffix"))
    if is_cjk(first) or is_cjk(last):
        core = "".join(p for p in (last, middle, first) if p)
        if salutation:
            core = core + salutation if is_cjk(salutation) else f"{salutation} {core}"
        if suffix:
            core = core + suffix if is_cjk(suffix) else f"{core} {suffix}"
        return core
    return " ".join(p for p in (salutation, first, middle, last, suffix) if p)


def split_name(text: str) -> dict[str, str]:
    """A best guess at the parts of a full name typed in one piece."""
    words = text.split()
    if len(words) == 1 and is_cjk(text):
        surname = text[:2] if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else text[:1]
        return {"last": surname, "first": text[len(surname):]} if len(text) > 1 else {"last": text}
    if len(words) == 1:
        return {"last": words[0]}
    return {"first": words[0], "middle": " ".join(words[1:-1]), "last": words[-1]}


class PersonNameType(CompositeType):
    name = "person_name"
    parts = {"salutation": "string", "first": "string", "middle": "string", "last": "string", "suffix": "string"}
    part_lengths = {"salutation": 40, "first": 80, "middle": 80, "last": 80, "suffix": 40}
    part_labels = {"salutation": N_("Salutation"), "first": N_("First name"), "middle": N_("Middle name"),
                   "last": N_("Last name"), "suffix": N_("Suffix")}
    name_length = 330
    description = "A person's name in parts (NAME_first, NAME_last…); NAME is the full name."

    def form_order(self, keys, field, language):
        """Family name first for languages that write it first (姓 before 名)."""
        if language.split("-")[0].split("_")[0] not in FAMILY_NAME_FIRST:
            return keys
        order = {f"{field.name}_{s}": i for i, s in enumerate(("salutation", "last", "first", "middle", "suffix"))}
        return sorted(keys, key=lambda k: order.get(k, len(order)))

    def check_parts(self, parts) -> None:
        if any(parts.values()) and not (parts.get("first") or parts.get("last")):
            raise FieldValueError(message(N_("give a first or a last name")))

    def whole(self, parts) -> str:
        return full_name(parts)

    def form_values(self, record, field):
        values = super().form_values(record, field)
        legacy = record.get(field.name)
        if isinstance(legacy, str) and legacy and not any(values.values()):
            values.update({f"{field.name}_{k}": v for k, v in split_name(legacy).items()})
        return values

    def display(self, record, field, language):
        value = record.get(field.name)
        return value if isinstance(value, str) else None

    def check_spec(self, spec, report) -> None:
        check_mask(spec, report)
        if spec.get("default") is not None:  # (`default: null` drops an inherited one)
            report("E407", "a person_name field has no default", "default")
