"""The sales director's dashboard in a real browser: every chart of the home page is drawn
by ECharts (a canvas with pixels painted), the number card shows the win rate, a click on
a funnel step opens the opportunity list filtered to exactly the records that reached
that step (the list's count is the step's figure, and the records service's own count),
and on a phone's width the charts shrink to the screen. "Download PNG" saves a chart as an image file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from browserutil import DEMO_PASSWORD, screenshot, sign_in

from engine.records import Query
from engine.reports import run
from engine.storage import users

PAINTED = """
(canvas) => {
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted;
}
"""

# the centre of funnel step `index`, in CSS pixels within the chart's box (ECharts' own layout)
STEP_CENTRE = """
(box, index) => {
  const chart = echarts.getInstanceByDom(box.querySelector('.chart-canvas'));
  const points = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(index).points;
  const x = points.reduce((s, p) => s + p[0], 0) / points.length;
  const y = points.reduce((s, p) => s + p[1], 0) / points.length;
  return [x, y];
}
"""


def director_context(server):
    import sqlalchemy as sa

    from engine.permissions.org import load_actor
    from engine.records import Context

    service = server.app.extensions["tailor"].service
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == "chen.jie")).mappings().one()
        return service, Context(actor=load_actor(conn, row))


def test_director_dashboard_draws_its_charts_and_a_funnel_step_opens_its_records(page, live_server):
    service, director = director_context(live_server)
    dashboard = live_server.app.extensions["tailor"].model.dashboards["sales"]
    sign_in(page, live_server, "chen.jie", language="zh", password=DEMO_PASSWORD)
    page.wait_for_function("document.querySelectorAll('.report-chart[data-drawn]').length > 0")

    # every widget of the dashboard is there, each chart drawn on a canvas with pixels painted
    widgets = page.locator(".dashboard-grid .widget")
    assert widgets.count() == len(dashboard.widgets)
    charts = page.locator(".report-chart")
    drawn = charts.count()  # the widgets drawn as charts that have figures this year
    assert drawn >= 3
    page.wait_for_function(f"document.querySelectorAll('.report-chart[data-drawn]').length == {drawn}")
    for i in range(charts.count()):
        canvas = charts.nth(i).locator("canvas").first
        assert canvas.evaluate(PAINTED) > 500, f"chart {i} is blank"
    # the number card: the director's win rate as the engine computes it
    card = page.locator("[data-widget=win_rate] .number-value")
    assert re.fullmatch(r"\d+\.\d%|–", card.inner_text().strip())
    screenshot(page, "dashboard-director")

    # Download PNG: the button beside a drawn chart saves that chart as REPORT.png (a real
    # image of it, not an empty file); a number card has no chart, so no button
    assert page.locator("[data-widget=win_rate] .chart-png").count() == 0
    button = page.locator("[data-widget=pipeline_funnel] .chart-png")
    assert button.is_visible()
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == "pipeline_funnel.png"
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    assert len(data) > 5000, len(data)  # a drawn funnel at twice the pixels, not a blank canvas

    # a funnel step: its figure on the page is the report's, for the director
    funnel = page.locator("[data-widget=pipeline_funnel] .report-chart")
    spec = json.loads(funnel.locator("script.chart-data").text_content())
    steps = spec["series"][0]["data"]
    expected = run(service, "pipeline_funnel", director)
    assert [s["value"] for s in steps] == [float(r.values["deals"]) for r in expected.rows]
    index = 1  # the second step: the deals at it and at every later step (several stages)
    figure = int(steps[index]["value"])
    assert figure > 0
    x, y = funnel.evaluate(STEP_CENTRE, index)
    box = funnel.locator(".chart-canvas").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/e/opportunity?**")
    count = page.locator(".toolbar .muted").first.inner_text()  # "12 records", "12 条记录"
    assert int(re.match(r"\d+", count).group(0)) == figure, count
    # the step counts the deals that reached it: at its stage or a later step of the funnel
    reached = [r.groups[0] for r in expected.rows[index:]]
    assert re.findall(r"stage=(\w+)", page.url) == reached
    listed = service.count("opportunity", Query(filters=(("stage", "in", reached),)), director)
    assert listed == figure
    page_size = live_server.app.extensions["tailor"].model.entity("opportunity").list.page_size
    assert page.locator("table.grid tbody tr").count() == min(figure, page_size)

    # on a phone's width the dashboard is one column and each chart fits the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/home")
    page.wait_for_function(f"document.querySelectorAll('.report-chart[data-drawn]').length == {drawn}")
    for i in range(charts.count()):
        width = charts.nth(i).locator("canvas").first.bounding_box()["width"]
        assert 0 < width <= 390
    screenshot(page, "dashboard-director-phone")
