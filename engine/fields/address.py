"""address: street (several lines), city, state or province, postal code, country.

NAME is the address on one line, for lists, sorting, filters and search. How an address
reads depends on the address itself first, then on who reads it:

* Chinese order, largest unit first (`中国 / 上海市浦东新区 / 世纪大道100号 / 200120`),
  when the country is China (`CN`, `China`, `中国`…) or written in CJK characters, or,
  with no country, when the address is written in CJK characters, or, with no such clue,
  when the reader's language is Chinese;
* otherwise the English order: the street lines, then `city, state postal code`, then the
  country.

NAME follows the same rule without a reader: Chinese order only for a Chinese address.
"""

from __future__ import annotations

import re
import unicodedata

from .base import FieldValueError, check_mask
from .composite import N_, CompositeType, cjk_join, is_cjk, message

CHINA = frozenset({"cn", "chn", "china", "prc", "p.r.c.", "p.r. china", "p. r. china", "people's republic of china",
                   "中国", "中國", "中华人民共和国", "中華人民共和國"})
POSTAL_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z -]*", re.ASCII)


def chinese_order(parts, language: str | None = None) -> bool:
    country = (parts.get("country") or "").strip()
    if country:
        return country.lower() in CHINA or is_cjk(country)
    if any(is_cjk(value) for value in parts.values() if value):
        return True
    return language is not None and language.replace("-", "_").split("_")[0] == "zh"


def address_lines(parts, language: str | None = None) -> list[str]:
    """The address as the lines of an envelope, in the order it reads (see the module)."""
    street = [line for line in (parts.get("street") or "").split("\n") if line]
    city, state, postal, country = (parts.get(k) for k in ("city", "state", "postal_code", "country"))
    if chinese_order(parts, language):
        region = cjk_join([p for p in (state, city) if p])
        return [line for line in (country, region, *street, postal) if line]
    place = ", ".join(p for p in (city, " ".join(q for q in (state, postal) if q)) if p)
    return [line for line in (*street, place, country) if line]


def one_line(parts) -> str:
    lines = address_lines(parts)
    if chinese_order(parts):
        return cjk_join(lines)
    return ", ".join(lines)


class AddressType(CompositeType):
    name = "address"
    parts = {"street": "string", "city": "string", "state": "string", "postal_code": "string",
             "country": "string"}
    part_lengths = {"street": 300, "city": 80, "state": 80, "postal_code": 20, "country": 80}
    multiline_parts = frozenset({"street"})
    part_labels = {"street": N_("Street"), "city": N_("City"), "state": N_("State or province"),
                   "postal_code": N_("Postal code"), "country": N_("Country")}
    name_length = 600
    description = "A postal address in parts (NAME_street, NAME_city…); NAME is the address on one line."

    def coerce_part(self, suffix, value):
        if suffix == "postal_code" and isinstance(value, str):
            value = unicodedata.normalize("NFKC", value)  # full-width digits
        text = super().coerce_part(suffix, value)
        if text is not None and suffix == "street" and text.count("\n") >= 4:
            raise FieldValueError(message(N_("street: at most 4 lines")))
        if text is not None and suffix == "postal_code":
            if not POSTAL_CODE.fullmatch(text):
                raise FieldValueError(message(N_("postal code: '%(value)s' has characters other than letters, "
                                                 "digits, spaces and '-'"), value=text))
            text = text.upper()
        return text

    def whole(self, parts) -> str:
        return one_line(parts)

    def form_values(self, record, field):
        values = super().form_values(record, field)
        legacy = record.get(field.name)
        if isinstance(legacy, str) and legacy and not any(values.values()):
            values[f"{field.name}_street"] = legacy
        return values

    def display(self, record, field, language):
        parts = {suffix: record.get(key) for suffix, key in self.part_keys(field).items()}
        if not any(parts.values()):
            value = record.get(field.name)
            return value if isinstance(value, str) else None
        return "\n".join(address_lines(parts, language))

    def check_spec(self, spec, report) -> None:
        check_mask(spec, report)
        if spec.get("default") is not None:  # (`default: null` drops an inherited one)
            report("E407", "an address field has no default", "default")
