"""Shared option sets: `option_sets:` in tailor.yaml, `option_set: NAME` on a field.

A project declares a list of options once (industries, regions, sources) and several
fields of several entities use it instead of `options:`, so a layer changes them in one
place. Layers merge sets by name, then by option value exactly as field options merge
(relabel, recolour, add, `hidden: true`: engine/spec/project.py `merge_option_sets`).

Sets are resolved here, once the layers are merged: a field with `option_set` gets the
set's options as its own `options` (the key `option_set` stays, so `tailor explain` can
say where they come from), and the rest of the engine only ever sees plain options.
"""

from __future__ import annotations

from ..errors import Problems, did_you_mean
from .yamlload import PosDict, PosList


def resolve_option_sets(entities: dict[str, PosDict], settings: PosDict, problems: Problems) -> None:
    """Give every field naming a set that set's options (checks: E407 both `options` and
    `option_set`, E312 unknown set)."""
    sets = settings.get("option_sets")
    sets = sets if isinstance(sets, PosDict) else PosDict(pos=settings.pos)
    for entity in entities.values():
        fields = entity.get("fields") if isinstance(entity, PosDict) else None
        if isinstance(fields, PosDict):
            _resolve_fields(fields, sets, problems)


def _resolve_fields(fields: PosDict, sets: PosDict, problems: Problems) -> None:
    for fspec in fields.values():
        if not isinstance(fspec, PosDict):
            continue
        for sub_key in ("fields", "payload"):
            if isinstance(fspec.get(sub_key), PosDict):
                _resolve_fields(fspec[sub_key], sets, problems)
        name = fspec.get("option_set")
        if not isinstance(name, str):
            continue
        where = fspec.position_of("option_set")
        if "options" in fspec:
            problems.add("E407", "a field takes its options from 'options' or from 'option_set', not both",
                         fspec.position_of("option_set", of_key=True), "remove one of them")
            continue
        options = sets.get(name)
        if not isinstance(options, PosList):
            if name not in sets:
                problems.add("E312", f"unknown option set '{name}'", where,
                             did_you_mean(name, sets) or (f"sets in tailor.yaml: {', '.join(sets)}" if sets else
                                                          "declare it in tailor.yaml under option_sets:"))
            continue
        own = PosList(options, pos=options.pos)  # the list is the field's; the options are shared, read-only
        own.item_pos = list(options.item_pos)
        fspec["options"] = own
        fspec.key_pos["options"] = fspec.value_pos["options"] = options.pos
