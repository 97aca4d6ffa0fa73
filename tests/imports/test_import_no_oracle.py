"""An import must not tell a user what they may not see: a guessed hidden value gets the
same answer right or wrong, and links are matched only by fields the user sees
(SQLite and PostgreSQL)."""

from __future__ import annotations

from importutil import FILES, csv_bytes, world

from engine.imports import Mapping, dry_run


def _answers(service, context, rows, mapping=None):
    summary = dry_run(service, "customer", csv_bytes(rows), "c.csv", mapping, context)
    return (summary.created, summary.updated, summary.unchanged, summary.failed,
            sorted((e.column, e.to_dict()["message"]) for e in summary.errors))


def test_a_guessed_hidden_value_gets_the_same_answer_right_or_wrong(service_for):
    service = service_for(FILES)
    people = world(service)
    service.create("customer", {"name": "Acme", "secret": "swordfish", "owner": people["rep1"].actor.id},
                   people["root"])
    upsert = Mapping(entity="customer", columns={}, mode="upsert", key="name")
    right = _answers(service, people["rep1"], [["name", "secret"], ["Acme", "swordfish"]], upsert)
    wrong = _answers(service, people["rep1"], [["name", "secret"], ["Acme", "wrong"]], upsert)
    assert right == wrong and right[3] == 1 and right[4][0][0] == "secret"


def test_links_are_matched_only_by_fields_the_user_sees(service_for):
    roles = FILES["roles.yaml"].replace("region: {actions: [read], scope: all}",
                                        "region: {actions: [read], scope: all, fields: {code: hidden}}")
    service = service_for({**FILES, "roles.yaml": roles})
    people = world(service)
    by_hidden_code = _answers(service, people["rep1"], [["name", "region"], ["One", "EC"]])
    by_unknown_code = _answers(service, people["rep1"], [["name", "region"], ["One", "XX"]])
    assert by_hidden_code[3] == by_unknown_code[3] == 1  # "EC" exists, but not for them
    assert [c for c, _m in by_hidden_code[4]] == [c for c, _m in by_unknown_code[4]] == ["region"]
    by_title = _answers(service, people["rep1"], [["name", "region"], ["One", "East China"]])
    assert by_title[:4] == (1, 0, 0, 0)
    assert _answers(service, people["root"], [["name", "region"], ["One", "EC"]])[:4] == (1, 0, 0, 0)
