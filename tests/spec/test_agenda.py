"""`agenda:` (things to do by a date, listed on their owner's home) and the project's
`timezone:`: checked at start-up with positions, compiled into the model with the index
the home page's query needs."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError
from engine.model import load_model

FIELDS = """\
entity: task
agenda: {AGENDA}
fields:
  subject: {type: string}
  due: {type: datetime}
  day: {type: date}
  done: {type: boolean}
  notes: {type: lines, fields: {text: {type: string}}}
  secret: {type: string, encrypted: true}
"""


def problems(make_project, agenda: str, settings: str = "name: test\nlanguages: [en, zh]\n"):
    root = make_project({"tailor.yaml": settings, "entities/task.yaml": FIELDS.replace("{AGENDA}", agenda)})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return [(p.code, p.position.line, p.position.column, p.message) for p in info.value.problems]


@pytest.mark.parametrize("agenda, code, column, needle", [
    ("{due: dew}", "E307", 15, "unknown field 'dew'"),
    ("{due: subject}", "E407", 15, "date or datetime"),
    ("{due: due, open: 'not dne'}", "E502", 31, "dne"),
    ("{due: due, open: 'subject'}", "E504", 27, "boolean"),
    ("{due: due, open: 'count(notes) == 0'}", "E506", 26, "not stored"),
    ("{due: due, open: \"user.id == 1\"}", "E502", 27, "user"),
    ("{open: 'not done'}", "E203", 9, "due"),
])
def test_agenda_problems_point_at_the_offending_text(make_project, agenda, code, column, needle):
    found = problems(make_project, agenda)
    assert any(c == code and line == 2 and col == column and needle in message
               for c, line, col, message in found), found


def test_an_encrypted_field_cannot_say_whether_a_record_is_open(make_project, monkeypatch):
    monkeypatch.setenv("TAILOR_ENCRYPTION_KEY", "A" * 43 + "=")
    found = problems(make_project, "{due: due, open: \"secret == 'x'\"}")
    assert [c for c, *_ in found] == ["E412"], found


def test_an_unknown_time_zone_is_reported_at_its_value(make_project):
    found = problems(make_project, "{due: day}", "name: test\nlanguages: [en, zh]\ntimezone: Asia/Shanghia\n")
    assert [(c, line, col) for c, line, col, _m in found] == [("E204", 3, 11)], found


def test_the_compiled_agenda_and_its_index(build_model):
    model = build_model({"tailor.yaml": "name: test\ntimezone: Asia/Shanghai\n",
                         "entities/task.yaml": FIELDS.replace("{AGENDA}", "{due: day, open: 'not done'}")
                         .replace("  secret: {type: string, encrypted: true}\n", "")})
    task = model.entities["task"]
    assert (task.agenda.due, task.agenda.open) == ("day", "not done")
    assert any([c.name for c in index.columns] == ["owner", "day"] for index in task.table.indexes)
    plain = build_model({"entities/task.yaml": "entity: task\nfields:\n  day: {type: date}\n"})
    assert plain.entities["task"].agenda is None
