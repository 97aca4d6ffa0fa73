"""Saved reports (engine/reports/saved.py), on SQLite and PostgreSQL: checked as YAML reports
are (also for the owner's and the shared roles' hidden fields), visible to owner, shared
roles and administrators, changed only by owner and administrators, audited when shared,
checked again against the current model when run."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.records import PermissionDenied
from engine.reports import check_report
from engine.reports import saved as sr
from engine.storage import admin_audit, saved_reports

PIPELINE = {"report": "x", "label": "Pipeline", "entity": "opportunity", "group_by": ["stage"],
            "measures": [{"name": "deals", "count": True}, {"name": "hours", "sum": "hours"}], "chart": "bar"}


@pytest.fixture
def world(report_world):
    return report_world()


def audit_actions(world) -> list[str]:
    with world.service.engine.connect() as conn:
        return [r for (r,) in conn.execute(sa.select(admin_audit.c.action).order_by(admin_audit.c.id))]


def test_saved_report_runs_as_its_document_compiled(world):
    rita = world.people["rita"]
    kept = sr.save(world.service, rita, PIPELINE, {"title": "Pipeline"})
    assert kept.name == f"saved_{kept.id}" and kept.document["report"] == kept.name
    assert kept.title == "Pipeline" and kept.roles == () and kept.owner_id == rita.actor.id
    result = sr.run_saved(world.service, kept.id, rita)
    # the figures of the records rita may read (her own), counted by the tests' own SQL
    expected = dict(world.sql("SELECT stage, COUNT(*) FROM T WHERE owner = :me GROUP BY stage", me=rita.actor.id))
    assert {r.groups[0]: r.values["deals"] for r in result.rows} == expected
    # a director sees it only when it is shared with them; their figures are their own scope
    with pytest.raises(sr.SavedReportNotFound):
        sr.report_for(world.service, kept.id, world.people["dora"])


def test_refused_for_what_the_yaml_checker_refuses_with_the_same_problems(world):
    bad = {**PIPELINE, "group_by": ["notes", {"field": "stage", "bucket": "month"}],
           "measures": [{"name": "total", "sum": "close_date"}], "chart": "funnel"}
    with pytest.raises(sr.SavedReportRefused) as info:
        sr.save(world.service, world.people["dora"], bad)
    expected = check_report(world.service.model, {**bad, "report": "saved_new"})
    assert expected and [(p.code, p.message) for p in info.value.problems] == [(p.code, p.message) for p in expected]
    with world.service.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(saved_reports)).scalar() == 0


def test_hidden_for_the_owner_or_a_shared_role_is_refused(world):
    costs = {**PIPELINE, "measures": [{"name": "cost", "sum": "cost"}]}
    # cost is hidden from reps: rita may not save it for herself...
    with pytest.raises(sr.SavedReportRefused) as info:
        sr.save(world.service, world.people["rita"], costs)
    assert [p.code for p in info.value.problems] == ["E005"] and "role 'rep'" in info.value.problems[0].message
    # ...the director may, but not share it with reps
    kept = sr.save(world.service, world.people["dora"], costs)
    assert kept.roles == ()
    with pytest.raises(sr.SavedReportRefused) as info:
        sr.save(world.service, world.people["dora"], {**costs, "roles": ["rep"]}, saved_id=kept.id)
    assert [p.code for p in info.value.problems] == ["E005"]
    assert check_report(world.service.model, {**costs, "roles": ["rep"]})[0].code == "E005"
    # the phone is masked for roles without reveal: a manager's report may not group by it
    with pytest.raises(sr.SavedReportRefused):
        sr.save(world.service, world.people["mia"], {**PIPELINE, "group_by": ["phone"]})


def test_visibility_and_who_may_change(world):
    rita, ravi, mia, root = (world.people[n] for n in ("rita", "ravi", "mia", "root"))
    mine = sr.save(world.service, rita, PIPELINE)
    shared = sr.save(world.service, rita, {**PIPELINE, "label": "For managers", "roles": ["manager"]})
    assert [s.id for s in sr.list_saved(world.service, rita)] == [shared.id, mine.id]  # by title
    assert [s.id for s in sr.list_saved(world.service, ravi)] == []
    assert [s.id for s in sr.list_saved(world.service, mia)] == [shared.id]
    assert {s.id for s in sr.list_saved(world.service, root)} == {mine.id, shared.id}
    for who in (ravi, mia):
        with pytest.raises(sr.SavedReportNotFound):
            sr.get_saved(world.service, mine.id, who)
    with pytest.raises(sr.SavedReportNotFound):
        sr.get_saved(world.service, 10**12, rita)
    # a manager sees the shared one and runs it in their own scope, but may not change it
    assert sr.run_saved(world.service, shared.id, mia).rows
    with pytest.raises(PermissionDenied):
        sr.save(world.service, mia, PIPELINE, saved_id=shared.id)
    with pytest.raises(PermissionDenied):
        sr.delete(world.service, mia, shared.id)
    with pytest.raises(sr.SavedReportNotFound):
        sr.delete(world.service, ravi, mine.id)
    # an administrator changes and deletes anyone's; the owner stays the owner
    changed = sr.save(world.service, root, {**PIPELINE, "label": "Renamed"}, saved_id=mine.id)
    assert changed.owner_id == rita.actor.id and changed.title == "Renamed"
    sr.delete(world.service, root, mine.id)
    sr.delete(world.service, rita, shared.id)
    assert sr.list_saved(world.service, root) == []


def test_admin_audit_for_shared_reports_and_admins_changes(world):
    rita, root = world.people["rita"], world.people["root"]
    private = sr.save(world.service, rita, PIPELINE)
    assert audit_actions(world) == []  # a user's own private report is nobody else's business
    shared = sr.save(world.service, rita, {**PIPELINE, "roles": ["manager"]})
    sr.save(world.service, root, PIPELINE, saved_id=private.id)
    sr.delete(world.service, rita, shared.id)
    assert audit_actions(world) == ["report_save", "report_save", "report_delete"]


def test_outdated_against_the_current_model_is_a_clear_refusal(world, report_world):
    rita = world.people["rita"]
    kept = sr.save(world.service, rita, {**PIPELINE, "group_by": ["priority"]})
    # the designer removed `priority`: the stored document now names an unknown field
    with sr.write_engine(world.service.engine).begin() as conn:
        document = {**kept.document, "group_by": ["gone_field"]}
        conn.execute(saved_reports.update().where(saved_reports.c.id == kept.id).values(document=document))
    with pytest.raises(sr.SavedReportOutdated) as info:
        sr.report_for(world.service, kept.id, rita)
    assert [p.code for p in info.value.problems] == ["E307"] and "gone_field" in info.value.problems[0].message
