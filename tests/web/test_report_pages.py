"""Report and dashboard pages over HTTP on the demo CRM, SQLite and PostgreSQL: each
viewer's figures (a rep sees their own), refusals as 403/404 pages (never a 500), bad
periods as a 400 that says why, exports equal to the figures, drill-down lists whose count
is the figure, and the home page's dashboard for a role, for none."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from webutil import csrf_of, make_user, sign_in

from engine.permissions.org import load_actor
from engine.records import Context, Query
from engine.reports import run
from engine.storage import users

DEMO_PASSWORD = "demo-pass-1"
COUNT = re.compile(r'<span class="muted">(\d+)[^<]*</span>')


def service_of(app):
    return app.extensions["tailor"].service


def context_of(app, username: str) -> Context:
    with app.extensions["tailor"].engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()
        return Context(actor=load_actor(conn, row))


def client_for(app, username: str, password: str = DEMO_PASSWORD):
    client = app.test_client()
    response = sign_in(client, username, password)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def page_of(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == status, (url, response.status_code, html[:1500])
    return html


def chart_of(html: str, report: str) -> dict:
    block = re.search(rf'data-report="{report}".*?<script type="application/json" class="chart-data"[^>]*>(.*?)</script>',
                      html, re.S)
    assert block, f"no chart for {report}"
    return json.loads(block.group(1))


def listed_count(client, url: str) -> int:
    """Follow a drill-down link to the list page: its record count."""
    response = client.get(url)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    target = response.headers["Location"]
    html = page_of(client, target)
    return int(COUNT.search(html).group(1))


def test_a_rep_sees_their_own_figures_and_each_bar_opens_exactly_its_records(crm_app):
    service = service_of(crm_app)
    for who in ("wang.lei", "chen.jie"):
        ctx = context_of(crm_app, who)
        client = client_for(crm_app, who)
        html = page_of(client, "/reports/revenue_by_owner?period=all")
        expected = run(service, "revenue_by_owner", ctx)
        table = crm_app.extensions["tailor"].model.entity("opportunity").table
        # the figures, independently: won opportunities the viewer may read, by owner
        scope = table.c.owner == ctx.actor.id if who == "wang.lei" else sa.true()
        with service.engine.connect() as conn:
            plain = dict(conn.execute(sa.select(table.c.owner, sa.func.count()).where(
                table.c.stage == "won", scope).group_by(table.c.owner)).all())
        assert {r.groups[0]: r.values["deals"] for r in expected.rows} == plain
        if who == "wang.lei":
            assert set(plain) == {ctx.actor.id}
        spec = chart_of(html, "revenue_by_owner")
        deals = next(s for s in spec["series"] if s["axis"])  # the count, on the second axis
        assert [d["value"] for d in deals["data"]] == [float(r.values["deals"]) for r in expected.rows]
        for point, row in zip(deals["data"], expected.rows, strict=True):
            # the report's filter (won) cannot be said by the list's filters: the drill-down
            # parameters carry it, and the list counts exactly the bar's records
            assert listed_count(client, point["link"]) == row.values["deals"]


def test_funnel_steps_open_the_list_filtered_by_stage(crm_app):
    """A step's figure is the deals that reached it (at it or a later step): its link is the
    list filtered to those stages, whose count is the figure."""
    client = client_for(crm_app, "zhao.min")
    ctx = context_of(crm_app, "zhao.min")
    html = page_of(client, "/reports/pipeline_funnel")
    expected = run(service_of(crm_app), "pipeline_funnel", ctx)
    steps = chart_of(html, "pipeline_funnel")["series"][0]["data"]
    assert [s["value"] for s in steps] == [float(r.values["deals"]) for r in expected.rows]
    stages = [r.groups[0] for r in expected.rows]
    assert "lost" not in stages
    for i, (step, row) in enumerate(zip(steps, expected.rows, strict=True)):
        response = client.get(step["link"])
        target = urlsplit(response.headers["Location"])
        assert target.path == "/e/opportunity" and parse_qsl(target.query) == [("stage", s) for s in stages[i:]]
        assert listed_count(client, step["link"]) == row.values["deals"]


def test_a_month_of_the_year_on_year_trend_opens_that_months_records(crm_app):
    """sales_trend groups by month of the year (every year's March together): a point opens
    the won deals of that month, this year's and last year's, as many as the report read."""
    client = client_for(crm_app, "chen.jie")
    html = page_of(client, "/reports/sales_trend")
    table = crm_app.extensions["tailor"].model.entity("opportunity").table
    today = date.today()
    with service_of(crm_app).engine.connect() as conn:
        closes = conn.execute(sa.select(table.c.close_date).where(table.c.stage == "won")).scalars().all()
    points = [p for series in chart_of(html, "sales_trend")["series"] for p in series["data"] if p.get("link")]
    assert points, "the demo has won deals this year or last"
    for point in points:
        month = json.loads(dict(parse_qsl(urlsplit(client.get(point["link"]).headers["Location"]).query))["_row"])["g"][0]
        want = sum(1 for d in closes if d is not None and d.year >= today.year - 1 and d.month == month)
        assert listed_count(client, point["link"]) == want, month
    page_of(client, "/e/opportunity?_report=sales_trend&_row=%7B%22g%22%3A%5B13%5D%7D", 400)  # no 13th month


def test_a_user_who_may_not_read_the_entity_gets_no_report(crm_app):
    client = client_for(crm_app, "liu.yang")  # service agent: tickets, no opportunities
    listing = page_of(client, "/reports")
    assert "/reports/tickets_by_status" in listing and "/reports/revenue_by_owner" not in listing
    page_of(client, "/reports/revenue_by_owner", 403)
    page_of(client, "/reports/revenue_by_owner/export.csv", 403)
    page_of(client, "/reports/pipeline_funnel/drill?_row=%7B%22g%22%3A%5B%22won%22%5D%7D", 403)
    page_of(client, "/e/opportunity?_report=revenue_by_owner", 403)
    page_of(client, "/dashboards/sales", 404)  # not for their roles
    page_of(client, "/reports/no_such_report", 404)
    # their home shows the service dashboard
    home = page_of(client, "/home")
    assert 'data-dashboard="service"' in home and 'data-widget="tickets_by_status"' in home


@pytest.mark.parametrize("url, says", [
    ("/reports/win_rate?period=someday", "period: 'someday' is not one of"),
    ("/reports/win_rate?period=custom&from=2026-01-01", "needs a first and a last day"),
    ("/reports/win_rate?period=custom&from=2026-02-30&to=2026-03-01", "needs a first and a last day"),
    ("/reports/win_rate?period=custom&from=2026-05-01&to=2026-04-01", "first day is after its last day"),
    ("/reports/win_rate?period=this_year&from=2026-01-01", "from and to go with period=custom"),
    ("/reports/win_rate/export.csv?_from=2026-05-01&_to=x", "needs a first and a last day"),
    ("/reports/pipeline_funnel/drill?_row=%7Bnot-json", "damaged"),
    ("/reports/pipeline_funnel/drill?_row=%7B%22g%22%3A%5B%5B1%5D%5D%7D", "damaged"),
    ("/reports/revenue_by_owner/drill?_row=%7B%22g%22%3A%5B1180591620717411303424%5D%2C%22c%22%3A%5B%22CNY%22%5D%7D",
     "damaged"),  # beyond the database's integers
    ("/e/opportunity?_report=revenue_by_owner&_row=%7B%22g%22%3A%5B%22abc%22%5D%2C%22c%22%3A%5B%22CNY%22%5D%7D",
     "damaged"),  # a user is a number
    ("/reports/revenue_by_owner/drill?_row=%7B%22g%22%3A%5B1%5D%2C%22c%22%3A%5B%22X%27%20or%20true%22%5D%7D",
     "damaged"),  # a currency is a code, nothing else
    ("/reports/pipeline_by_month/drill?_row=%7B%22g%22%3A%5Btrue%5D%2C%22c%22%3A%5B%22CNY%22%5D%7D", "damaged"),
    ("/reports/pipeline_funnel/drill?_row=%7B%22g%22%3A%5B%22won%22%5D%7D&_from=2026-01-01&_to=2026-02-01",
     "has no period"),
    ("/e/opportunity?_row=%7B%22g%22%3A%5B%5D%7D", "_report: name the report"),
    ("/e/opportunity?_report=tickets_by_status", "no report 'tickets_by_status' on these records"),
    ("/home?period=forever", "period: 'forever' is not one of"),
    ("/dashboards/sales?period=custom&to=2026-01-01", "needs a first and a last day"),
])
def test_bad_periods_and_drill_parameters_are_a_400_that_says_why(client, url, says):
    html = page_of(client, url, 400)
    assert says in html.replace("&#39;", "'")


def test_exports_hold_the_figures(crm_app):
    from openpyxl import load_workbook

    client = client_for(crm_app, "chen.jie")
    ctx = context_of(crm_app, "chen.jie")
    span = (date(2000, 1, 1), date(2100, 12, 31))
    result = run(service_of(crm_app), "revenue_by_owner", ctx, period=span)
    assert result.rows
    query = "_from=2000-01-01&_to=2100-12-31"
    response = client.get(f"/reports/revenue_by_owner/export.csv?{query}")
    assert response.status_code == 200 and response.headers["Content-Disposition"].endswith('.csv"')
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == [c.label for c in result.columns]
    assert [[r[0], r[1], Decimal(r[2]), int(r[3])] for r in lines[1:]] == \
        [[*r.labels, *r.currencies, r.values["revenue"], r.values["deals"]] for r in result.rows]
    response = client.get(f"/reports/revenue_by_owner/export.xlsx?{query}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == [c.label for c in result.columns]
    assert [[r[0], r[1], Decimal(str(r[2])), r[3]] for r in rows[1:]] == \
        [[*r.labels, *r.currencies, r.values["revenue"], r.values["deals"]] for r in result.rows]
    assert all(isinstance(r[2], (int, float)) and isinstance(r[3], int) for r in rows[1:])  # typed cells
    # a number card's export: the one row of figures, the ratio as a fraction
    card = run(service_of(crm_app), "win_rate", ctx, period=span)
    lines = list(csv.reader(io.StringIO(client.get(f"/reports/win_rate/export.csv?{query}")
                                        .get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[1] == [str(card.rows[0].values[m]) for m in ("won", "closed", "win_rate")]


def test_home_shows_the_dashboard_for_the_role_and_bare_counts_without_one(crm_app):
    director = client_for(crm_app, "chen.jie")
    home = page_of(director, "/home")
    assert 'data-dashboard="sales"' in home
    for widget in crm_app.extensions["tailor"].model.dashboards["sales"].widgets:
        assert f'data-widget="{widget.name}"' in home
    assert "echarts.min.js" in home and 'class="tile"' in home
    assert 'href="/dashboards/service"' in home and 'href="/dashboards/marketing"' in home  # their others
    assert 'data-widget="campaign_roi"' in page_of(director, "/dashboards/marketing")
    # marketing reads the opportunities campaign_roi counts: their home is the marketing dashboard
    marketer = client_for(crm_app, "david.wu")
    home = page_of(marketer, "/home")
    assert 'data-widget="campaign_roi"' in home and 'data-widget="revenue_by_owner"' not in home
    assert "Apache Software Foundation" in page_of(director, "/assets/echarts.min.js")[:300]
    # a user holding no role: no dashboard, no report, the record counts (none readable)
    make_user(crm_app.extensions["tailor"].engine, crm_app.extensions["tailor"].model, "nobody", roles=())
    nobody = client_for(crm_app, "nobody", "test-pass-1")
    home = page_of(nobody, "/home")
    assert "data-dashboard" not in home and "echarts" not in home
    assert "your roles let you see no records" in home
    assert "No report is available to you." in page_of(nobody, "/reports")


def test_a_rep_sees_the_sales_dashboard_with_their_own_figures(crm_app):
    client = client_for(crm_app, "wang.lei")
    ctx = context_of(crm_app, "wang.lei")
    html = page_of(client, "/dashboards/sales?period=all")
    spec = chart_of(html, "pipeline_funnel")
    total = service_of(crm_app).count("opportunity", Query(where="stage != 'lost'"), ctx)
    assert spec["series"][0]["data"][0]["value"] == total  # the first step: every deal not lost
    assert total < service_of(crm_app).count("opportunity", Query(), context_of(crm_app, "chen.jie"))


@pytest.mark.parametrize("today, key, span", [
    (date(2026, 1, 15), "this_month", (date(2026, 1, 1), date(2026, 1, 31))),
    (date(2026, 1, 15), "last_month", (date(2025, 12, 1), date(2025, 12, 31))),
    (date(2024, 3, 31), "last_month", (date(2024, 2, 1), date(2024, 2, 29))),
    (date(2026, 12, 6), "this_month", (date(2026, 12, 1), date(2026, 12, 31))),
    (date(2026, 2, 10), "this_quarter", (date(2026, 1, 1), date(2026, 3, 31))),
    (date(2026, 2, 10), "last_quarter", (date(2025, 10, 1), date(2025, 12, 31))),
    (date(2026, 11, 30), "this_quarter", (date(2026, 10, 1), date(2026, 12, 31))),
    (date(2026, 8, 1), "last_quarter", (date(2026, 4, 1), date(2026, 6, 30))),
    (date(2026, 8, 1), "this_year", (date(2026, 1, 1), date(2026, 12, 31))),
    (date(2026, 8, 1), "last_year", (date(2025, 1, 1), date(2025, 12, 31))),
    (date(2026, 8, 1), "all", None),
])
def test_named_periods_span_whole_months_quarters_and_years(today, key, span):
    from engine.web.pages.reports import span_of

    assert span_of(key, today) == span


def widget_sections(html: str) -> dict[str, str]:
    """Each dashboard widget's HTML, by widget name."""
    parts = re.split(r'(?=<section class="card widget")', html)
    return {m.group(1): part for part in parts if (m := re.search(r'data-widget="([a-z_0-9]+)"', part))}


def test_a_dashboard_says_which_widgets_its_period_does_not_apply_to(crm_app):
    """The dashboard's period applies to the widgets whose report has a period field; the
    others show all-time figures, and say so ("All time", 全部时间) instead of the period."""
    from engine.web.pages.reports import span_of

    client = client_for(crm_app, "chen.jie")
    model = crm_app.extensions["tailor"].model
    for language, all_time in (("en", "All time"), ("zh", "全部时间")):
        client.post("/language", data={"csrf_token": csrf_of(page_of(client, "/home")), "language": language,
                                       "next": "/"})
        sections = widget_sections(page_of(client, "/dashboards/sales?period=this_month"))
        assert sections
        first, _last = span_of("this_month", date.today())
        undated = [name for name in sections if model.reports[name].period is None]
        assert "pipeline_funnel" in undated and "revenue_by_region" in undated
        for name, section in sections.items():
            note = re.search(r'<p class="muted report-period"[^>]*>([^<]*)</p>', section).group(1)
            if name in undated:
                assert note == all_time, (name, note)
            else:
                assert note != all_time and str(first.year) in note, (name, note)
