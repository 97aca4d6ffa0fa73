"""Warnings for labels a project language lacks (W301-W303).

A project with `languages: [en, zh]` whose options, fields or entities have no Chinese
label loads and works, but Chinese users read English (or the readable defaults made from
names, see engine/labels.py). That is a warning, not an error: `tailor check`
prints it and succeeds, and nothing else stops on it.

A label written as one text (`label: VIP`) was written for every language and never
warns; a mapping (`{en: Won}`) covers its keys; no label at all covers English only (the
default is made from the name, in English), except for an option whose value is a code
that shows as it is (`CNY`, `ISO9001`: the default label is the value itself). Hidden
fields, options and entities are not shown, so they are not checked.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import Position
from ..fields.contact_lists import KNOWN_KINDS
from ..labels import label_languages, readable
from .project import option_value
from .yamlload import PosDict, PosList

Report = Callable[[str, str, Position, str | None], None]


def check_labels(entities: dict[str, PosDict], languages: list[str], report: Report) -> None:
    """Report W301 (options), W302 (fields) and W303 (entities) for labels lacking one of
    the project's `languages`."""
    wanted = [str(lang) for lang in languages if isinstance(lang, str)]
    if not wanted:
        return
    for name, entity in entities.items():
        if not isinstance(entity, PosDict) or entity.get("hidden"):
            continue
        lacking = _lacking(entity.get("label"), wanted)
        plural_lacking = _lacking(entity.get("plural"), wanted) if "plural" in entity else []
        if lacking or plural_lacking:
            what = []
            if lacking:
                what.append(f"label has no {_names(lacking)}")
            if plural_lacking:
                what.append(f"plural has no {_names(plural_lacking)}")
            key = "label" if lacking and "label" in entity else "plural" if plural_lacking else "entity"
            report("W303", f"entity '{name}': {'; '.join(what)} text", entity.position_of(key),
                   _hint(wanted, "plural" if key == "plural" else "label"))
        fields = entity.get("fields")
        if isinstance(fields, PosDict):
            _check_fields(fields, "", wanted, report)


def _check_fields(fields: PosDict, prefix: str, wanted: list[str], report: Report) -> None:
    for fname, fspec in fields.items():
        if not isinstance(fspec, PosDict) or fspec.get("hidden") or not fspec.get("type"):
            continue
        shown = f"{prefix}{fname}"
        lacking = _lacking(fspec.get("label"), wanted)
        if lacking:
            where = fspec.position_of("label") if "label" in fspec else fields.position_of(fname, of_key=True)
            report("W302", f"field '{shown}' has no {_names(lacking)} label", where, _hint(wanted, "label"))
        for key in ("options", "kinds"):  # the kinds of several e-mails or phones are labelled alike
            options = fspec.get(key)
            if not isinstance(options, PosList):
                continue
            missing: dict[str, list[str]] = {}
            for option in options:
                if isinstance(option, PosDict) and option.get("hidden"):
                    continue
                label = option.get("label") if isinstance(option, PosDict) else None
                value = option_value(option)
                if label is None and readable(str(value)) == str(value):
                    continue  # a code (CNY, ISO9001) shows as it is in every language
                if label is None and key == "kinds" and str(value) in KNOWN_KINDS:
                    label = KNOWN_KINDS[str(value)]  # work, mobile…: labelled by the engine
                for lang in _lacking(label, wanted):
                    missing.setdefault(lang, []).append(str(option_value(option)))
            for lang, values in missing.items():
                listed = ", ".join(values[:12]) + (f" and {len(values) - 12} more" if len(values) > 12 else "")
                report("W301", f"{key} of field '{shown}' have no {lang} label: {listed}",
                       fspec.position_of(key, of_key=True),
                       f"write each as {{value: {values[0]}, label: {{{_example(wanted)}}}}}")
        for sub_key in ("fields", "payload"):
            sub = fspec.get(sub_key)
            if isinstance(sub, PosDict):
                _check_fields(sub, f"{shown}.", wanted, report)


def _lacking(label: object, wanted: list[str]) -> list[str]:
    covered = label_languages(label, wanted)
    return [lang for lang in wanted if lang not in covered]


def _names(languages: list[str]) -> str:
    return "/".join(languages)


def _example(wanted: list[str]) -> str:
    return ", ".join(f"{lang}: ..." for lang in wanted)


def _hint(wanted: list[str], key: str) -> str:
    return f"give a text per language, e.g. {key}: {{{_example(wanted)}}}"


__all__ = ["check_labels"]
