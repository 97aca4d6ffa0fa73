"""The report builder's pages over HTTP (Flask's test client), on SQLite and PostgreSQL:
the page refuses exactly what check_report refuses, with the same codes and messages next
to the inputs; previews; save, share, edit, delete; another user's report; CSRF; bad
input never a 500; the texts in Chinese."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from reportutil import files, seed

from engine.config import Settings
from engine.migrate import apply_plan, plan_migration
from engine.model import load_model
from engine.reports import check_report
from engine.storage import admin_audit, make_engine, saved_reports, users, write_engine
from engine.users import set_password
from engine.web import create_app

PASSWORD = "test-pass-1"



@pytest.fixture
def app(db_url, make_project):
    root = make_project(files())
    model = load_model(root, entry_points=False)
    engine = make_engine(db_url)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    engine.dispose()
    app = create_app(Settings(project=root, database_url=db_url, secret_key="test-secret", extra={"jobs": "off"}))
    app.config["TESTING"] = True
    service = app.extensions["tailor"].service
    app.world = seed(service)
    with write_engine(service.engine).begin() as conn:
        for (user_id,) in conn.execute(sa.select(users.c.id)):
            set_password(conn, user_id, PASSWORD)
    yield app
    app.extensions["tailor"].engine.dispose()


def text_of(response) -> str:
    return response.get_data(as_text=True)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def signed_in(app, username: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.0.0.{sum(map(ord, username)) % 250 + 1}"
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"username": username, "password": PASSWORD,
                                             "csrf_token": csrf_of(text_of(page))})
    assert response.status_code == 302, text_of(response)[:2000]
    client.token = csrf_of(text_of(client.get("/reports/builder?entity=opportunity")))
    return client


def form(client, **values) -> dict:
    """A builder form: a count by stage unless told otherwise."""
    data = {"csrf_token": client.token, "entity": "opportunity", "title": "Deals", "g1": "stage",
            "m1_kind": "count", "chart": "table"}
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


def shown_problems(page: str) -> list[tuple[str, str]]:
    """(code, checker message) of every problem the page shows next to an input."""
    found = re.findall(r'<span class="code">(E\d+)</span> <span class="message">(.*?)</span>', page, re.S)
    return sorted({(code, html.unescape(message)) for code, message in found})


def expected_problems(app, document: dict, roles: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    model = app.extensions["tailor"].service.model
    doc = {**document, "report": "saved_new", "roles": [*document.get("roles", []), *roles]}
    return sorted({(p.code, p.message) for p in check_report(model, doc)})


# every case: the builder's inputs, and the document a YAML author would write for them
REFUSED = [
    ({"g1": "notes"}, {"group_by": ["notes"]}),  # text cannot be grouped (E002)
    ({"g1": "stage", "g1_bucket": "month"}, {"group_by": [{"field": "stage", "bucket": "month"}]}),  # E003
    ({"m1_kind": "sum", "m1_field": "close_date"}, {"measures": [{"name": "m1", "sum": "close_date"}]}),  # E004
    ({"m1_kind": "sum", "m1_field": "cost", "roles": "rep"},
     {"measures": [{"name": "m1", "sum": "cost"}], "roles": ["rep"]}),  # hidden from a shared role (E005)
    ({"chart": "funnel", "g1": ""}, {"group_by": [], "chart": "funnel"}),  # E006
    ({"period": "stage"}, {"period": "stage"}),  # E007
    ({"g1": "nope"}, {"group_by": ["nope"]}),  # E307
    ({"filter": "amount >"}, {"filter": "amount >"}),  # E5xx at its character
    ({"filter": "cost > 5", "roles": "rep"}, {"filter": "cost > 5", "roles": ["rep"]}),  # filtered on hidden
    ({"m2_kind": "ratio", "m2_a": "m1", "m2_b": "m9"},
     {"measures": [{"name": "m1", "count": True}, {"name": "m2", "ratio": ["m1", "m9"]}]}),  # E001
    ({"sort": "-revenue"}, {"sort": "-revenue"}),  # E001
    ({"limit": "5000"}, {"limit": 5000}),  # the schema (E2xx)
    ({"chart": "radar"}, {"chart": "radar"}),  # the schema
    ({"roles": "nobody"}, {"roles": ["nobody"]}),  # E008
]


def document_for(values: dict, override: dict) -> dict:
    base = {"label": "Deals", "entity": "opportunity", "group_by": ["stage"],
            "measures": [{"name": "m1", "count": True}], "chart": "table", "roles": []}
    if values.get("g1") == "":
        base["group_by"] = []
    return {**base, **override}


def test_the_page_refuses_what_the_checker_refuses_with_the_same_reason(app):
    client = signed_in(app, "dora")
    for values, document in REFUSED:
        expected = expected_problems(app, document_for(values, document))
        assert expected, f"the checker accepts {document}: the case tests nothing"
        for url in ("/reports/builder/preview", "/reports/builder"):
            response = client.post(url, data=form(client, **values))
            assert response.status_code in (200, 422), (values, url)
            assert shown_problems(text_of(response)) == expected, (values, url)
    with app.extensions["tailor"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(saved_reports)).scalar() == 0


ACCEPTED = [
    {},
    {"g1": "owner", "g2": "close_date", "g2_bucket": "quarter", "chart": "stacked_bar"},
    {"g1": "owner.department", "m1_kind": "count_distinct", "m1_field": "customer", "chart": "pie"},
    {"m1_kind": "sum", "m1_field": "amount", "m2_kind": "avg", "m2_field": "hours", "sort": "-m2", "limit": "3"},
    {"m2_kind": "count", "m2_filter": "stage == 'won'", "m3_kind": "ratio", "m3_a": "m2", "m3_b": "m1"},
    {"g1": "", "chart": "number", "period": "close_date"},
    {"chart": "funnel", "filter": "stage != 'lost'"},
    {"g1": "closed_at", "g1_bucket": "week", "chart": "line", "m1_kind": "max", "m1_field": "close_date"},
]


def test_what_the_checker_accepts_the_page_previews_and_saves(app):
    client = signed_in(app, "dora")
    model = app.extensions["tailor"].service.model
    for values in ACCEPTED:
        response = client.post("/reports/builder/preview", data=form(client, **values))
        assert response.status_code == 200
        page = text_of(response)
        assert shown_problems(page) == [] and ("<table" in page or 'class="number-card"' in page), (values, page[:3000])
        saved = client.post("/reports/builder", data=form(client, **values))
        assert saved.status_code == 303, (values, text_of(saved)[:3000])
        shown = client.get(saved.headers["Location"])
        assert shown.status_code == 200 and ("<table" in text_of(shown) or 'class="number-card"' in text_of(shown))
        saved_id = int(saved.headers["Location"].rsplit("/", 1)[1])
        with app.extensions["tailor"].engine.connect() as conn:
            document = conn.execute(sa.select(saved_reports.c.document).where(saved_reports.c.id == saved_id)).scalar()
        assert check_report(model, document) == [], values


def test_preview_figures_are_the_viewers_own(app):
    world = app.world
    client = signed_in(app, "rita")
    page = text_of(client.post("/reports/builder/preview", data=form(client, g1="", chart="number")))
    mine = world.sql("SELECT COUNT(*) FROM T WHERE owner = :me", me=world.people["rita"].actor.id)[0][0]
    assert re.findall(r'class="number-value">([^<]*)<', page) == [str(mine)]  # the card, drawn as saved
    page = text_of(client.post("/reports/builder/preview", data=form(client, g1="", chart="table")))
    assert re.findall(r'<td class="num">([^<]*)</td>', page) == [str(mine)]


def test_list_filters_become_the_report_filter(app):
    world = app.world
    client = signed_in(app, "dora")
    customer = world.customers["Acme"]
    values = {"g1": "", "chart": "number", "lf.stage": "won", "lf.customer": str(customer),
              "lf.close_date.from": "2025-03-01", "lf.close_date.to": "2025-12-31", "lf.priority": "1",
              "lf.owner": "mine"}
    response = client.post("/reports/builder", data=form(client, **values))
    assert response.status_code == 303, text_of(response)[:3000]
    page = text_of(client.get(response.headers["Location"]))
    expected = world.sql("SELECT COUNT(*) FROM T WHERE stage = 'won' AND customer = :c AND close_date >= '2025-03-01' "
                         "AND close_date <= '2025-12-31' AND priority = :yes AND owner = :me", c=customer, yes=True,
                         me=world.people["dora"].actor.id)[0][0]
    assert re.findall(r'class="number-value"[^>]*>([^<]*)</', page) == [str(expected)]  # the saved report's card
    # a bad list value is the form's own message, not a 500; an unknown filter too
    for bad in ({"lf.close_date.from": "someday"}, {"lf.stage": "nope"}, {"lf.bogus": "1"}, {"lf.customer": "x1"}):
        response = client.post("/reports/builder/preview", data=form(client, **bad))
        assert response.status_code == 200
        slots = dict(re.findall(r'<div id="problems-([a-z0-9]+)"[^>]*>(.*?)</div>', text_of(response), re.S))
        assert 'class="builder-problem"' in slots["list"], bad


def test_hidden_from_the_saver_is_refused_as_the_checker_refuses_it(app):
    client = signed_in(app, "rita")  # a rep: cost is hidden from reps
    values = {"m1_kind": "sum", "m1_field": "cost"}
    response = client.post("/reports/builder", data=form(client, **values))
    assert response.status_code == 422
    document = document_for(values, {"measures": [{"name": "m1", "sum": "cost"}]})
    assert shown_problems(text_of(response)) == expected_problems(app, document, roles=("rep",))
    assert [code for code, _m in shown_problems(text_of(response))] == ["E005"]


def test_share_edit_delete_and_other_users(app):
    rita, mia, ravi = (signed_in(app, n) for n in ("rita", "mia", "ravi"))
    response = rita.post("/reports/builder", data=form(rita, title="Shared pipeline", roles="manager"))
    url = response.headers["Location"]
    saved_id = int(url.rsplit("/", 1)[1])
    assert "Shared pipeline" in text_of(mia.get("/reports/saved"))
    assert mia.get(url).status_code == 200
    assert ravi.get(url).status_code == 404 and "Shared pipeline" not in text_of(ravi.get("/reports/saved"))
    # only the owner (and administrators) edit and delete
    assert mia.get(f"{url}/edit").status_code == 403
    assert mia.post(f"{url}/edit", data=form(mia, title="Mine now")).status_code == 403
    assert mia.post(f"{url}/delete", data={"csrf_token": mia.token}).status_code == 403
    assert ravi.post(f"{url}/delete", data={"csrf_token": ravi.token}).status_code == 404
    edit = rita.get(f"{url}/edit")
    assert edit.status_code == 200 and 'value="Shared pipeline"' in text_of(edit)
    changed = rita.post(f"{url}/edit", data=form(rita, title="Renamed", g1="owner"))
    assert changed.status_code == 303 and "Renamed" in text_of(rita.get(url))
    root = signed_in(app, "root")
    assert root.get(f"{url}/edit").status_code == 200
    assert root.post(f"{url}/delete", data={"csrf_token": root.token}).status_code == 303
    assert rita.get(url).status_code == 404
    with app.extensions["tailor"].engine.connect() as conn:
        actions = [a for (a,) in conn.execute(sa.select(admin_audit.c.action).order_by(admin_audit.c.id))]
    assert actions == ["report_save", "report_save", "report_delete"]
    audit_page = text_of(root.get("/admin/audit"))
    assert "Saved report saved" in audit_page and "Saved report deleted" in audit_page
    assert f"report: {saved_id}" in audit_page


def test_csrf_and_bad_input_are_never_a_500(app):
    client = signed_in(app, "dora")
    data = form(client)
    del data["csrf_token"]
    assert client.post("/reports/builder", data=data).status_code == 400
    assert client.post("/reports/builder/preview", data=data).status_code == 400
    for values in ({"entity": "nope"}, {"entity": ""}, {"m1_kind": "bogus"}, {"m1_kind": "sum"},
                   {"limit": "lots"}, {"limit": "-3"}, {"title": "x" * 5000}, {"filter": "x" * 9000},
                   {"g1": "owner.department.name"}, {"g1": "ab\x00"}, {"m1_kind": "ratio"}, {"sort": "-" * 80},
                   {"m1_field": "stage", "m1_kind": "avg"}, {"entity": "customer", "g1": "stage"}):
        for url in ("/reports/builder/preview", "/reports/builder"):
            response = client.post(url, data=form(client, **values))
            assert response.status_code in (200, 422), (values, url, text_of(response)[:2000])
            assert 'class="builder-problem"' in text_of(response), (values, url)
    # a preview needs no title yet; saving does
    assert 'class="builder-problem"' not in text_of(client.post("/reports/builder/preview", data=form(client, title="")))
    response = client.post("/reports/builder", data=form(client, title=""))
    assert response.status_code == 422 and 'class="builder-problem"' in text_of(response)
    assert client.get("/reports/builder?entity=nope").status_code == 404
    assert app.test_client().get("/reports/builder").status_code in (302, 303)  # signed out: to the sign-in page
    assert app.test_client().post("/reports/builder/preview", data=form(client)).status_code in (302, 303, 400)
    assert client.get("/reports/saved/99999").status_code == 404
    assert client.get("/reports/saved/99999999999999").status_code == 404
    assert client.get("/reports/saved/abc").status_code == 404


def test_a_report_outdated_by_the_model_says_so(app):
    client = signed_in(app, "dora")
    url = client.post("/reports/builder", data=form(client, g1="priority")).headers["Location"]
    with write_engine(app.extensions["tailor"].engine).begin() as conn:
        (document,) = conn.execute(sa.select(saved_reports.c.document)).one()
        conn.execute(saved_reports.update().values(document={**document, "group_by": ["removed_field"]}))
    page = client.get(url)
    assert page.status_code == 200
    assert ("E307", ) == tuple(code for code, _m in shown_problems(text_of(page)))
    assert "removed_field" in text_of(page)
    assert client.get(f"{url}/edit").status_code == 200


def test_chinese_texts(app):
    client = signed_in(app, "dora")
    client.post("/language", data={"csrf_token": client.token, "language": "zh", "next": "/"})
    page = text_of(client.get("/reports/builder?entity=opportunity"))
    assert "分组" in page and "保存" in page
    response = client.post("/reports/builder/preview", data=form(client, g1="notes"))
    assert "此字段不能用于分组" in text_of(response)


def test_each_problem_is_shown_next_to_its_input(app):
    client = signed_in(app, "dora")
    cases = [({"g1": "notes"}, "groups"), ({"m1_kind": "sum", "m1_field": "cost", "roles": "rep"}, "m1"),
             ({"filter": "cost > 5", "roles": "rep"}, "filter"), ({"g1": "cost", "roles": "rep"}, "groups"),
             ({"chart": "funnel", "g1": ""}, "chart"), ({"period": "stage"}, "period"), ({"sort": "-nope"}, "sort"),
             ({"roles": "nobody"}, "roles"), ({"limit": "5000"}, "limit"), ({"lf.stage": "nope"}, "list")]
    for values, key in cases:
        page = text_of(client.post("/reports/builder/preview", data=form(client, **values)))
        slots = dict(re.findall(r'<div id="problems-([a-z0-9]+)"[^>]*>(.*?)</div>', page, re.S))
        assert 'class="builder-problem"' in slots[key], (values, key, {k: v for k, v in slots.items() if v.strip()})
        assert all('class="builder-problem"' not in v for k, v in slots.items() if k != key), (values, key)


def test_every_field_in_every_role_of_the_form_is_judged_as_the_checker_judges_it(app):
    """Each field of the entity (and the standard columns) as group 1, in month buckets,
    and under each measure kind, posted by a director and by a rep (from whom `cost` is
    hidden and `phone` masked): the page's problems are exactly check_report's for the
    same document checked for the saver's roles."""
    model = app.extensions["tailor"].service.model
    names = [*model.entity("opportunity").fields, "owner", "owner.department", "created_by", "created_at",
             "updated_at"]
    for username, roles in (("dora", ("director",)), ("rita", ("rep",))):
        client = signed_in(app, username)
        cases = []
        for name in names:
            cases.append(({"g1": name}, {"group_by": [name]}))
            cases.append(({"g1": name, "g1_bucket": "month"}, {"group_by": [{"field": name, "bucket": "month"}]}))
            for kind in ("sum", "avg", "min", "max", "count_distinct"):
                cases.append(({"m1_kind": kind, "m1_field": name}, {"measures": [{"name": "m1", kind: name}]}))
        refused = 0
        for values, override in cases:
            expected = expected_problems(app, document_for(values, override), roles=roles)
            page = text_of(client.post("/reports/builder/preview", data=form(client, **values)))
            assert shown_problems(page) == expected, (username, values)
            if expected:
                assert "<table" not in page, (username, values)
            else:  # run for the user: a table, or (masked values, to all but administrators) the run's refusal
                assert "<table" in page or ("hidden from you" in page and "phone" in str(values)), (username, values)
            refused += bool(expected)
        assert 0 < refused < len(cases)  # both kinds of case were met


def test_a_saved_report_has_the_report_pages_chart_drill_down_and_exports(app):
    """A saved report is shown like a YAML one (chart, table, drill-down, CSV/XLSX) at
    /reports/saved_<id>, to those who may see it only."""
    rita, ravi = signed_in(app, "rita"), signed_in(app, "ravi")
    response = rita.post("/reports/builder", data=form(rita, title="Mine by stage", chart="bar"))
    saved_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = text_of(rita.get(f"/reports/saved/{saved_id}"))
    assert 'class="report-result"' in page and f"/reports/saved_{saved_id}/export.csv" in page
    assert rita.get(f"/reports/saved_{saved_id}").status_code == 200
    assert rita.get(f"/reports/saved_{saved_id}/export.csv").status_code == 200
    drill = re.findall(r'href="(/reports/saved_\d+/drill[^"]*)"', page)
    assert drill and rita.get(html.unescape(drill[0])).status_code == 303
    # a report with a filter the list's own filters cannot say: the drill-down carries the
    # saved report's name, and the list shows exactly the figure's records
    response = rita.post("/reports/builder", data=form(rita, title="Big ones by stage", filter="amount > 5000"))
    big = int(response.headers["Location"].rsplit("/", 1)[1])
    page = text_of(rita.get(f"/reports/saved/{big}"))
    world = app.world
    for link in re.findall(r'href="(/reports/saved_\d+/drill[^"]*)"', page):
        target = rita.get(html.unescape(link))
        assert target.status_code == 303 and f"_report=saved_{big}" in target.headers["Location"]
        listing = rita.get(target.headers["Location"])
        assert listing.status_code == 200, text_of(listing)[:500]
        stage = re.search(r"_row=[^&]*%22([a-z_]+)%22", target.headers["Location"]).group(1)
        want = world.sql("SELECT COUNT(*) FROM T WHERE owner = :me AND amount > 5000 AND stage = :s",
                         me=world.people["rita"].actor.id, s=stage)[0][0]
        assert re.search(r'<span class="muted">(\d+)[^<]*</span>', text_of(listing)).group(1) == str(want)
    assert ravi.get(f"/e/opportunity?_report=saved_{big}").status_code == 400  # not his: no such report
    for path in (f"/reports/saved_{saved_id}", f"/reports/saved_{saved_id}/export.csv", "/reports/saved_99999",
                 "/reports/saved_²", "/reports/saved_" + "9" * 40):
        assert ravi.get(path).status_code == 404, path


class _Tables(HTMLParser):
    """The rows of each <table class="... pivot">: per row, each cell's text and link."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[tuple[str, str | None]]]] = []
        self.depth = 0
        self.cell: list[str] | None = None
        self.link: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "pivot" in (attrs.get("class") or "").split():
            self.tables.append([])
            self.depth = 1
        elif self.depth and tag == "tr":
            self.tables[-1].append([])
        elif self.depth and tag in ("td", "th"):
            self.cell, self.link = [], None
        elif self.cell is not None and tag == "a":
            self.link = html.unescape(attrs["href"])

    def handle_endtag(self, tag):
        if self.depth and tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(("".join(self.cell).strip(), self.link))
            self.cell = None
        elif tag == "table":
            self.depth = 0

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def pivots_of(page: str) -> list[list[list[tuple[str, str | None]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def amount(cell: str) -> Decimal | None:
    return Decimal(cell.replace(",", "")) if cell else None


def test_a_pivot_crosses_two_groups_with_totals_kept_per_currency(app):
    """chart: pivot draws a cross-tab: owners as rows (one per currency), stages as columns,
    the sum of amounts in the cells, as plain SQL adds them; each currency its own totals
    row, never a figure adding CNY to USD; each cell links to its records."""
    from engine.model.model import text as label_text

    world = app.world
    client = signed_in(app, "root")
    values = {"title": "Amount by owner and stage", "g1": "owner", "g2": "stage", "m1_kind": "sum",
              "m1_field": "amount", "chart": "pivot"}
    preview = text_of(client.post("/reports/builder/preview", data=form(client, **values)))
    assert len(pivots_of(preview)) == 1, preview[:3000]
    saved = client.post("/reports/builder", data=form(client, **values))
    assert saved.status_code == 303, text_of(saved)[:3000]
    page = text_of(client.get(saved.headers["Location"]))
    [table] = pivots_of(page)

    stage = world.service.model.entity("opportunity").fields["stage"]
    stage_label = {o.value: label_text(o.label, "en", o.value) for o in stage.options}
    with app.extensions["tailor"].engine.connect() as conn:
        names = {i: d or u for i, u, d in conn.execute(sa.select(users.c.id, users.c.username, users.c.display_name))}
    cells: dict[tuple[str, str, str], Decimal | None] = {}
    for owner, stage_value, currency, total in world.sql(
            "SELECT owner, stage, COALESCE(amount_currency, 'CNY'), SUM(amount) FROM T "
            "GROUP BY owner, stage, COALESCE(amount_currency, 'CNY')"):
        key = (names[owner], currency, stage_label[stage_value])
        cells[key] = Decimal(str(total)).quantize(Decimal("0.01")) if total is not None else None

    header, *rows = table
    assert header[1][0] == "Currency" and header[-1][0] == "Total"
    columns = [c for c, _link in header[2:-1]]
    assert columns == [stage_label[v] for v in ("lead", "qualified", "proposal", "won", "lost")
                       if any(k[2] == stage_label[v] for k in cells)]  # in option order
    body = [r for r in rows if r[0][0] != "Total"]
    totals = [r for r in rows if r[0][0] == "Total"]
    seen = set()
    for row in body:
        owner, currency = row[0][0], row[1][0]
        for column, (cell, link) in zip(columns, row[2:-1], strict=True):
            want = cells.get((owner, currency, column))
            assert amount(cell) == want, (owner, currency, column)
            if want is not None:
                seen.add((owner, currency, column))
                assert link and "/drill?_row=" in link and client.get(link).status_code == 303
        present = [cells[(owner, currency, c)] for c in columns if cells.get((owner, currency, c)) is not None]
        assert amount(row[-1][0]) == (sum(present) if present else None), (owner, currency)  # the row's total
    assert seen == {k for k, v in cells.items() if v is not None}
    # one totals row per currency: the columns' and the grand totals, each in one currency
    by_currency = {c: Decimal(str(t)).quantize(Decimal("0.01")) for c, t in world.sql(
        "SELECT COALESCE(amount_currency, 'CNY'), SUM(amount) FROM T GROUP BY COALESCE(amount_currency, 'CNY')")}
    assert sorted(r[1][0] for r in totals) == sorted(by_currency) == ["CNY", "USD"]
    for row in totals:
        currency = row[1][0]
        assert amount(row[-1][0]) == by_currency[currency]
        for column, (cell, _link) in zip(columns, row[2:-1], strict=True):
            present = [v for (o, c, s), v in cells.items() if c == currency and s == column and v is not None]
            assert amount(cell) == (sum(present) if present else None), (currency, column)
    # in Chinese: the same cross-tab, its headers translated
    client.post("/language", data={"csrf_token": client.token, "language": "zh", "next": "/"})
    header = pivots_of(text_of(client.get(saved.headers["Location"])))[0][0]
    assert header[1][0] == "币种" and header[-1][0] == "合计"


def test_an_empty_result_says_whether_a_period_applied(app):
    """"No records in this period." only when a period was applied; a report without one
    says "No records." and that its figures are of all time."""
    client = signed_in(app, "root")
    undated = text_of(client.post("/reports/builder/preview", data=form(client, filter="name == 'no such deal'")))
    assert "No records." in undated and "in this period" not in undated
    assert re.search(r'class="muted report-period"[^>]*>All time<', undated)
    saved = client.post("/reports/builder", data=form(client, title="Dated", period="close_date"))
    assert saved.status_code == 303, text_of(saved)[:3000]
    name = "saved_" + saved.headers["Location"].rsplit("/", 1)[1]
    empty = text_of(client.get(f"/reports/{name}?period=custom&from=1990-01-01&to=1990-01-31"))
    assert "No records in this period." in empty
    note = re.search(r'class="muted report-period"[^>]*>([^<]*)<', empty).group(1)
    assert "1990" in note and "All time" not in note, note
