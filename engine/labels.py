"""Labels a project did not write: readable defaults made from names and values.

A model translated in a hurry leaves labels out; pages should still read like a CRM, not
like a database (`closed_won`, `sales_order`). Defaults are English, the language names
and option values are written in; a project with other languages gets a warning for
each label its languages lack (engine/spec/labels.py), so nothing stays English by
accident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DEFAULT_LANGUAGE = "en"  # the language of defaults made from names and values

# English plurals the rules below would get wrong; uncountable nouns stay as they are
_IRREGULAR = {"person": "people", "child": "children", "man": "men", "woman": "women", "staff": "staff",
              "information": "information", "equipment": "equipment", "series": "series",
              "analysis": "analyses", "criterion": "criteria", "data": "data", "news": "news",
              "feedback": "feedback", "software": "software", "inventory": "inventories"}
_LAST_WORD = re.compile(r"(?<![A-Za-z0-9<>/&;])([A-Za-z]+)$")


def readable(name: str) -> str:
    """A name or value as a reader expects it: `closed_won` -> "Closed won". Values that
    are not lower case (`CNY`, `iPhone`) keep their letters; only `_` becomes a space."""
    text = str(name).replace("_", " ").strip()
    if text and text == text.lower() and text[0].isalpha():
        return text[0].upper() + text[1:]
    return text or str(name)


def english_plural(text: str) -> str:
    """The English plural of a label's last word: "Sales order" -> "Sales orders",
    "Opportunity" -> "Opportunities", "Address" -> "Addresses". Text that does not end
    in a Latin word ("客户", "Customer (B2B)", "Q&A", "Form 10") is returned as it is."""
    match = _LAST_WORD.search(text)
    if match is None:
        return text
    word, tail = match.group(1), ""
    lower = word.lower()
    if lower in _IRREGULAR:
        plural = _IRREGULAR[lower]
        plural = plural[0].upper() + plural[1:] if word[0].isupper() else plural
        if word.isupper() and len(word) > 1:
            plural = plural.upper()
    elif word.isupper() and len(word) > 1:
        plural = word + "s"  # an acronym: "SKU" -> "SKUs"
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        plural = word + "es"
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        plural = word[:-1] + "ies"
    else:
        plural = word + "s"
    return text[:match.start()] + plural + tail


def label_languages(value: Any, languages: tuple[str, ...] | list[str]) -> set[str]:
    """The languages a YAML label covers: a mapping its keys, one text every language
    (it was written for all of them), no label only the language of defaults."""
    if isinstance(value, str):
        return set(languages)
    if isinstance(value, Mapping):
        return {str(k) for k in value}
    return {DEFAULT_LANGUAGE}


__all__ = ["DEFAULT_LANGUAGE", "english_plural", "label_languages", "readable"]
