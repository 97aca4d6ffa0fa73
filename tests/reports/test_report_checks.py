"""Reports in YAML: checked with positions (all problems at once), compiled onto the model,
layered with `extends:` (merged by report name, measures by measure name)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from reportutil import CUSTOMER, OPPORTUNITY, ROLES, seed

from engine.errors import ProjectError
from engine.model import load_model
from engine.reports import run

BASE = {"entities/customer.yaml": CUSTOMER, "entities/opportunity.yaml": OPPORTUNITY, "roles.yaml": ROLES}


def problems(make_project, report: str) -> list[tuple[str, int, int, str]]:
    root = make_project({**BASE, "reports/bad.yaml": report})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    return [(p.code, p.position.line, p.position.column, p.message) for p in info.value.problems]


def test_every_problem_of_a_report_at_its_position(make_project):
    found = problems(make_project, """
        report: bad
        entity: opportunity
        filter: "stage == 'won' and amount >"
        group_by: [notes, {field: stage, bucket: month}, nope]
        measures:
          - {name: deals, count: true}
          - {name: deals, count: true}
          - {name: total, sum: close_date}
          - {name: rate, ratio: [deals, closed]}
          - {name: both, count: true, sum: hours}
        chart: funnel
        sort: -revenue
        """)
    codes = [(code, line, column) for code, line, column, _message in found]
    assert codes == [
        ("E501", 3, 37),  # the expression checker's error, at its character (the end: '>' lacks a right side)
        ("E204", 4, 11),  # three groups: at most two (JSON Schema)
        ("E002", 4, 12),  # text cannot be grouped
        ("E003", 4, 42),  # a bucket on a choice
        ("E307", 4, 50),  # unknown field
        ("E001", 7, 12),  # a measure named twice
        ("E004", 8, 24),  # the sum of a date
        ("E001", 9, 33),  # a ratio of an unknown measure
        ("E204", 10, 5),  # two kinds in one measure
        ("E006", 11, 8),  # a funnel needs exactly one group
        ("E001", 12, 7),  # sorted by nothing it has
    ]
    assert all(message.startswith("report 'bad'") for *_p, message in found[2:])


def test_schema_problems_have_positions_too(make_project):
    found = problems(make_project, """
        report: bad
        entity: opportunity
        measures: [{name: n, count: true, colour: red}]
        chart: doughnut
        """)
    assert ("E201", 3, 35) in [(c, line, col) for c, line, col, _m in found]
    assert ("E204", 4, 8) in [(c, line, col) for c, line, col, _m in found]


def test_unknown_entity_and_missing_keys(make_project):
    found = problems(make_project, "report: bad\nentity: opportunty\nmeasures: [{name: n, count: true}]\n")
    assert found[0][:3] == ("E306", 2, 9) and "unknown entity 'opportunty'" in found[0][3]
    found = problems(make_project, "report: bad\nentity: opportunity\n")
    assert ("E203", 1, 9) in [f[:3] for f in found]


@pytest.mark.parametrize("body,line,column,needle", [
    ("roles: [rep]\ngroup_by: [stage]\nmeasures: [{name: c, sum: cost}]\n", 5, 27, "role 'rep' may not see it"),
    ("roles: [rep]\nfilter: \"cost > 5\"\nmeasures: [{name: c, count: true}]\n", 4, 9, "filters on 'cost'"),
    ("roles: [rep]\nmeasures: [{name: c, count: true, filter: \"cost > 5\"}]\n", 4, 43, "measure 'c' filters on"),
    ("roles: [manager]\ngroup_by: [phone]\nmeasures: [{name: c, count: true}]\n", 4, 12, "masked for role 'manager'"),
    ("group_by: [secret]\nmeasures: [{name: c, count: true}]\n", 3, 12, "hidden: true"),
])
def test_hidden_fields_cannot_be_grouped_filtered_or_summed(make_project, body, line, column, needle):
    secret = OPPORTUNITY.replace("list:", "  secret: {type: string, hidden: true}\nlist:")
    root = make_project({**BASE, "entities/opportunity.yaml": secret,
                         "reports/bad.yaml": "report: bad\nentity: opportunity\n" + body})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    found = [p for p in info.value.problems if p.code == "E005"]
    assert found, [str(p) for p in info.value.problems]
    assert (found[0].position.line, found[0].position.column) == (line, column), str(found[0])
    assert needle in found[0].message and "cannot be grouped, filtered or summed" in found[0].message


def test_funnel_steps_are_options_of_its_stage_field_and_only_a_funnel_has_steps(make_project):
    found = problems(make_project, "report: bad\nentity: opportunity\ngroup_by: [stage]\nchart: funnel\n"
                                   "steps: [lead, qualifed, won]\nmeasures: [{name: n, count: true}]\n")
    assert [f[:3] for f in found] == [("E006", 5, 15)]
    assert "'qualifed', which is not an option of 'stage'" in found[0][3]
    found = problems(make_project, "report: bad\nentity: opportunity\ngroup_by: [stage]\nchart: bar\n"
                                   "steps: [lead, won]\nmeasures: [{name: n, count: true}]\n")
    assert [f[:3] for f in found] == [("E006", 5, 8)] and "only a funnel has" in found[0][3]


def test_the_director_report_on_cost_passes(make_project):
    root = make_project({**BASE, "reports/ok.yaml": "report: ok\nentity: opportunity\nroles: [director]\n"
                                                    "measures: [{name: c, sum: cost}]\n"})
    report = load_model(root, entry_points=False).reports["ok"]
    assert report.roles == {"director"} and report.measures[0].kind == "sum" and report.fields == {"cost"}


def test_a_filter_sql_cannot_compute_is_refused(make_project):
    found = problems(make_project, "report: bad\nentity: opportunity\nfilter: \"min([hours, 5]) > 1\"\n"
                                   "measures: [{name: n, count: true}]\n")
    assert [f[:3] for f in found] == [("E506", 3, 9)] and "cannot be computed in SQL" in found[0][3]


LAYER_REPORT = """
report: by_stage
label: {en: Pipeline, zh: 管道}
measures:
  - {name: deals, label: {en: Opportunities, zh: 商机}}
  - {name: average, avg: amount}
"""


def test_a_client_layer_relabels_a_report_and_adds_a_measure(make_project, db_url):
    from reportutil import files

    from engine.migrate import apply_plan, plan_migration
    from engine.records import RecordService
    from engine.storage import make_engine

    make_project(files(), name="base")
    root = make_project({"tailor.yaml": "name: client\nlanguages: [en, zh]\nextends: ../base\n",
                         "reports/by_stage.yaml": LAYER_REPORT}, name="client")
    model = load_model(root, entry_points=False)
    report = model.reports["by_stage"]
    assert report.label["en"] == "Pipeline" and report.label["zh"] == "管道"
    assert [m.name for m in report.measures] == ["deals", "revenue", "average"]
    assert report.measures[0].kind == "count" and report.measures[0].label["en"] == "Opportunities"
    assert report.groups[0].field == "stage" and report.entity == "opportunity"  # kept from the base
    assert report.origin.defined_in == "test" and [c[0] for c in report.origin.changes] == ["client"]
    assert set(report.origin.changes[0][2]) == {"label", "measures"}
    assert load_model(make_project(files(), name="base2"), entry_points=False).version != model.version
    engine = make_engine(db_url)
    try:
        apply_plan(engine, plan_migration(engine, model.metadata, project=model.project,
                                          metadata_version=model.version))
        world = seed(RecordService(model, engine))
        result = run(world.service, "by_stage", world.people["root"])
        assert [c.label for c in result.columns] == ["Stage", "Currency", "Opportunities", "Revenue", "Average"]
        expected = {(s, c): a for s, c, a in world.sql(
            "SELECT stage, COALESCE(amount_currency, 'CNY'), AVG(amount) FROM T "
            "GROUP BY stage, COALESCE(amount_currency, 'CNY')")}
        for row in result.rows:
            want = expected[(row.groups[0], row.currency)]
            assert (row.values["average"] is None) == (want is None)
            if want is not None:
                assert abs(float(row.values["average"]) - float(want)) < 0.0001
        with pytest.raises(Exception, match="period"):
            run(world.service, "by_stage", world.people["root"], period=(date(2026, 1, 1), date(2026, 1, 31)))
    finally:
        engine.dispose()


# -- reports defined outside the YAML (the report builder to come) ----------------------------------
def test_a_built_report_is_refused_for_what_the_yaml_checker_refuses(make_project):
    from engine.reports import check_report

    model = load_model(make_project(BASE), entry_points=False)
    bad = {
        "report": "mine", "entity": "opportunity", "roles": ["rep"], "filter": "stage == 'won' and",
        "group_by": ["notes", {"field": "stage", "bucket": "month"}],
        "measures": [{"name": "c", "sum": "cost"}, {"name": "r", "ratio": ["c", "nope"]}],
        "chart": "number",
    }
    codes = sorted(p.code for p in check_report(model, bad))
    assert codes == ["E001", "E002", "E003", "E005", "E006", "E501"]
    # the same document as YAML gets the same codes
    root = make_project({**BASE, "reports/mine.yaml": """
        report: mine
        entity: opportunity
        roles: [rep]
        filter: "stage == 'won' and"
        group_by: [notes, {field: stage, bucket: month}]
        measures: [{name: c, sum: cost}, {name: r, ratio: [c, nope]}]
        chart: number
        """})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    assert sorted(p.code for p in info.value.problems) == codes
    found = check_report(model, {"report": "x", "entity": "opportunity", "colour": 1})
    assert [(p.code, str(p.position)) for p in found] == [("E201", "<report x>"), ("E203", "<report x>")]
    assert [p.code for p in check_report(model, ["x"])] == ["E105"]
    assert check_report(model, {"report": "x", "entity": "nope", "measures": [{"name": "n", "count": True}]})[0].code \
        == "E306"


def test_a_built_report_runs_like_a_yaml_one(report_world):
    from engine.records import PermissionDenied
    from engine.reports import build_report

    world = report_world()
    model = world.service.model
    report = build_report(model, {"report": "mine", "label": "My won deals", "entity": "opportunity",
                                  "filter": "owner == user.id", "group_by": ["stage"],
                                  "measures": [{"name": "deals", "count": True},
                                               {"name": "won", "count": True, "filter": "stage == 'won'"}]})
    assert report.label == {"en": "My won deals"} and report.filter is not None
    for who in ("rita", "ravi"):
        me = world.people[who].actor.id
        result = run(world.service, report, world.people[who])
        expected = dict(world.sql("SELECT stage, COUNT(*) FROM T WHERE owner = :me GROUP BY stage", me=me))
        assert {r.groups[0]: r.values["deals"] for r in result.rows} == expected
    with pytest.raises(ProjectError):
        build_report(model, {"report": "bad", "entity": "opportunity", "measures": [{"name": "n", "sum": "notes"}]})
    secret = build_report(model, {"report": "s", "entity": "opportunity", "measures": [{"name": "c", "sum": "cost"}]})
    with pytest.raises(PermissionDenied):  # no roles named: checked again for the viewer when run
        run(world.service, secret, world.people["rita"])


def test_report_texts_lacking_a_project_language_are_warned_about(make_project):
    root = make_project({**BASE, "reports/half.yaml": """
        report: half
        label: {en: Half translated}
        entity: opportunity
        group_by: [{field: close_date, bucket: month, label: {en: Month, zh: 月份}}]
        measures: [{name: n, label: {en: Deals}, count: true}]
        """})
    warnings = [(w.code, w.position.line, w.message) for w in load_model(root, entry_points=False).warnings
                if "report 'half'" in w.message]
    assert warnings == [("W304", 2, "report 'half': label has no zh text"),
                        ("W304", 5, "report 'half': measures[0].label has no zh text")]


def test_related_measures_durations_currencies_and_having_are_checked_at_their_positions(make_project):
    found = problems(make_project, """
        report: bad
        entity: customer
        group_by: [name]
        measures:
          - {name: deals, count: true, from: opportunity.name}
          - {name: hours, sum: hours, from: opportunity.customer, filter: "stage == 'won' and nope"}
          - {name: amounts, sum: amount, from: opportunity.customer}
          - {name: spread, count_distinct: stage, from: opportunity.customer}
          - {name: ghosts, count: true, from: ghost.customer}
          - {name: n, count: true, since: name}
        having: "deals > 0 and ratio_of_nothing > 1"
        """)
    codes = [(code, line, column) for code, line, column, _message in found]
    assert codes == [
        ("E009", 5, 38),  # opportunity.name is not a link to customer
        ("E502", 6, 87),  # the related filter is checked against the related entity
        ("E009", 7, 26),  # money of related records needs one currency
        ("E009", 8, 36),  # count_distinct cannot be added up over related records
        ("E306", 9, 39),  # unknown entity
        ("E009", 10, 35),  # since on a count
        ("E502", 11, 24),  # having names the measures only
    ], [(c, line, col) for c, line, col, _m in found]


def test_duration_and_currency_measures_are_checked(make_project):
    found = problems(make_project, """
        report: bad
        entity: opportunity
        measures:
          - {name: waited, avg: closed_at, since: close_date}
          - {name: cost, sum: cost, currency: CNY}
        """)
    assert [(c, line) for c, line, _col, _m in found] == [("E009", 4), ("E009", 5)], found


def test_a_related_measure_may_not_sum_a_field_hidden_from_the_reports_roles(make_project):
    found = problems(make_project, """
        report: bad
        entity: customer
        roles: [rep]
        measures:
          - {name: cost, sum: cost, from: opportunity.customer}
        """)
    assert [c for c, *_ in found] == ["E005"], found


def test_the_columns_reports_group_and_take_periods_by_are_indexed(make_project):
    report = ("report: by_hours\nentity: opportunity\nperiod: closed_at\ngroup_by: [hours]\n"
              "measures: [{name: n, count: true}]\n")

    def indexed(files):
        table = load_model(make_project(files), entry_points=False).entity("opportunity").table
        return {tuple(c.name for c in index.columns) for index in table.indexes}

    before, after = indexed(BASE), indexed({**BASE, "reports/by_hours.yaml": report})
    assert ("hours",) not in before and ("closed_at",) in before  # closed_at: a list filter already
    assert after - before == {("hours",)}


def test_a_measure_over_order_lines_names_a_lines_field_and_a_link_of_its_rows(make_project):
    lines = {"entities/purchase.yaml": """
entity: purchase
fields:
  customer: {type: link, to: customer}
  status: {type: choice, options: [open, done]}
  lines:
    type: lines
    fields:
      customer: {type: link, to: customer}
      qty: {type: decimal}
"""}
    root = make_project({**BASE, **lines, "reports/bad.yaml": """
report: bad
entity: customer
measures:
  - {name: a, sum: qty, from: purchase.customer.qty}
  - {name: b, sum: qty, from: purchase.lines.qty, filter: "status == 'done'"}
  - {name: c, sum: qty, from: purchase.lines.customer, filter: "qty > 1"}
  - {name: d, sum: qty, from: purchase.lines.customer, filter: "status == 'done'"}
"""})
    with pytest.raises(ProjectError) as info:
        load_model(root, entry_points=False)
    found = [(p.code, p.position.line) for p in info.value.problems]
    # not a lines field; a row field that is not a link here; the filter is on the order
    assert found == [("E009", 4), ("E009", 5), ("E502", 6)], info.value.problems


def test_a_new_reports_index_is_a_safe_migration_of_a_table_with_rows(make_project, db_url):
    from engine.migrate import apply_plan, plan_migration
    from engine.storage import make_engine

    report = "report: by_hours\nentity: opportunity\ngroup_by: [hours]\nmeasures: [{name: n, count: true}]\n"
    before = load_model(make_project(BASE), entry_points=False)
    after = load_model(make_project({**BASE, "reports/by_hours.yaml": report}), entry_points=False)
    engine = make_engine(db_url)
    try:
        apply_plan(engine, plan_migration(engine, before.metadata, project="p", metadata_version=before.version))
        table = before.entity("opportunity").table
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"name": f"d{i}", "hours": i % 5, "version": 1,
                                           "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                                           "updated_at": datetime(2026, 1, 1, tzinfo=UTC)} for i in range(50)])
        plan = plan_migration(engine, after.metadata, project="p", metadata_version=after.version)
        assert [op.kind for op in plan.applying_operations] == ["add_index"], plan.render()
        assert not plan.destructive_operations and not plan.blocked_operations
        apply_plan(engine, plan)
        names = {i["name"] for i in sa.inspect(engine).get_indexes(table.name)}
        assert any("hours" in name for name in names), names
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 50
    finally:
        engine.dispose()
