"""List totals (issue 15, "lists that fit"): the number and money columns of a list are summed
over every record the filters and the user's rows reach, not the page; money per currency;
nothing is summed that the user may not see. Compared with plain SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from test_forms import service_of
from webutil import csrf_of, make_user, sign_in

from engine.records import Actor, Context, Query
from engine.records.totals import totals

FILES = {
    "tailor.yaml": "name: totals\nlanguages: [en, zh]\ncurrency: CNY\ncurrencies: [CNY, USD]\n",
    "entities/deal.yaml": """
entity: deal
label: {en: Deal, zh: 商机}
plural: {en: Deals, zh: 商机}
stage: stage
fields:
  name: {type: string, required: true, label: {en: Name, zh: 名称}}
  amount: {type: money, label: {en: Amount, zh: 金额}}
  units: {type: integer, label: {en: Units, zh: 数量}}
  margin: {type: decimal, scale: 2, label: {en: Margin, zh: 毛利}}
  chance: {type: percent, label: {en: Chance, zh: 赢率}}
  stage: {type: choice, options: [{value: open, label: {en: Open, zh: 进行中}}, {value: won, label: {en: Won, zh: 赢单}}], default: open, label: {en: Stage, zh: 阶段}}
list:
  columns: [name, amount, units, margin, chance, stage]
  filters: [stage, units]
  page_size: 10
""",
    "roles.yaml": """
roles:
  rep:
    label: {en: Rep, zh: 销售}
    entities:
      deal: {actions: [read, create, update], scope: own}
  boss:
    label: {en: Boss, zh: 经理}
    entities:
      deal: {actions: [read], scope: all}
  clerk:
    label: {en: Clerk, zh: 文员}
    entities:
      deal: {actions: [read], scope: all, fields: {margin: hidden}}
""",
}


@pytest.fixture
def world(make_project, make_app):
    app = make_app(make_project(FILES), users=())
    state = app.extensions["tailor"]
    service = service_of(app)
    people = {}
    for name, role in (("rep1", "rep"), ("rep2", "rep"), ("boss", "boss"), ("clerk", "clerk")):
        user_id = make_user(state.engine, state.model, name, (role,))
        people[name] = Context(actor=Actor(id=user_id, username=name, roles=(role,)))
    # 25 deals: more than two pages; rep1 owns the odd ones; amounts in CNY and USD
    for i in range(25):
        owner = people["rep1" if i % 2 else "rep2"]
        service.create("deal", {"name": f"Deal {i}", "amount": {"amount": f"{100 + i}.10", "currency": "USD" if i % 3 == 0 else "CNY"},
                                "units": i, "margin": f"{i}.25", "chance": 50, "stage": "won" if i % 5 == 0 else "open"},
                       owner)
    return app, state, people


def expected(state, owner: int | None = None, stage: str | None = None) -> dict:
    """The figures in plain SQL."""
    table = state.model.entities["deal"].table
    where = [sa.true()]
    if owner is not None:
        where.append(table.c.owner == owner)
    if stage is not None:
        where.append(table.c.stage == stage)
    with state.engine.connect() as conn:
        units, margin = conn.execute(sa.select(sa.func.sum(table.c.units), sa.func.sum(table.c.margin)).where(*where)).one()
        money = conn.execute(sa.select(table.c.amount_currency, sa.func.sum(table.c.amount)).where(*where)
                             .group_by(table.c.amount_currency).order_by(table.c.amount_currency)).all()
    return {"units": int(units), "margin": Decimal(str(margin)).quantize(Decimal("0.01")),
            "amount": [(code, Decimal(str(total)).quantize(Decimal("0.01"))) for code, total in money]}


def test_totals_are_of_every_matching_record_per_currency_within_the_users_rows(world):
    app, state, people = world
    service = service_of(app)
    names = ["name", "amount", "units", "margin", "chance", "stage"]
    for who, owner in (("boss", None), ("rep1", people["rep1"].actor.id), ("rep2", people["rep2"].actor.id)):
        for stage in (None, "won"):
            query = Query(filters=(("stage", "eq", stage),) if stage else (), limit=10)
            found = totals(service, "deal", query, people[who], names)
            want = expected(state, owner, stage)
            assert set(found) == {"amount", "units", "margin"}  # a percent adds up to nothing; text neither
            assert found["units"] == [(None, want["units"])] and found["margin"] == [(None, want["margin"])]
            assert found["amount"] == want["amount"] and len(found["amount"]) == 2  # never across currencies
    # two reps, different totals
    assert totals(service, "deal", Query(limit=10), people["rep1"], ["units"]) != \
        totals(service, "deal", Query(limit=10), people["rep2"], ["units"])
    # a hidden field is not summed
    assert "margin" not in totals(service, "deal", Query(limit=10), people["clerk"], names)


def _footer(html: str) -> str:
    return html.split('<tfoot id="list-totals">', 1)[1].split("</tfoot>", 1)[0]


def test_the_list_page_shows_the_totals_under_the_table_in_both_languages(world):
    app, state, people = world
    client = app.test_client()
    assert sign_in(client, "rep1").status_code == 302
    want = expected(state, people["rep1"].actor.id)
    html = client.get("/e/deal").get_data(as_text=True)
    assert html.count('name="ids"') == 10 and "Next page" in html  # one page of two
    footer = _footer(html)
    assert "Total" in footer and f"{want['units']:,}" in footer
    for code, amount in want["amount"]:
        assert f"{amount:,.2f} {code}" in footer
    # filtered: the totals follow the filters
    won = expected(state, people["rep1"].actor.id, "won")
    footer = _footer(client.get("/e/deal?stage=won").get_data(as_text=True))
    assert f">{won['units']}<" in footer
    # Chinese
    client.post("/language", data={"language": "zh", "next": "/e/deal", "csrf_token": csrf_of(html)})
    zh = client.get("/e/deal").get_data(as_text=True)
    assert "合计" in _footer(zh) and "Total" not in _footer(zh)
    # the clerk: no margin total (hidden), nor a margin column
    clerk = app.test_client()
    assert sign_in(clerk, "clerk").status_code == 302
    footer = _footer(clerk.get("/e/deal").get_data(as_text=True))
    assert re.findall(r"<td[^>]*>", footer) and "Margin" not in footer


def test_one_record_or_none_gets_no_totals_row(world):
    app, state, people = world
    client = app.test_client()
    assert sign_in(client, "boss").status_code == 302
    assert "<tfoot" not in client.get("/e/deal?units.min=24").get_data(as_text=True)  # one record: it is its own total
    assert "<tfoot" not in client.get("/e/deal?units.min=1000").get_data(as_text=True)


def test_a_list_of_more_records_than_counted_gives_its_totals_when_asked(world, monkeypatch):
    """Beyond COUNT_CAP records ("1000+"), the page does not sum them all: a button fetches
    the same totals (the list's filters and columns) into the table's footer."""
    from engine.web.pages import lists

    monkeypatch.setattr(lists, "COUNT_CAP", 20)
    app, state, people = world
    client = app.test_client()
    assert sign_in(client, "boss").status_code == 302
    html = client.get("/e/deal?units.min=1").get_data(as_text=True)
    footer = _footer(html)
    assert "Show totals" in footer and "Total<" not in footer
    url = re.search(r'hx-get="([^"]+)"', footer).group(1).replace("&amp;", "&")
    assert url.startswith("/e/deal/totals?") and "units.min=1" in url
    fetched = client.get(url).get_data(as_text=True)
    table = state.model.entities["deal"].table
    with state.engine.connect() as conn:
        units = conn.execute(sa.select(sa.func.sum(table.c.units)).where(table.c.units >= 1)).scalar_one()
    assert fetched.startswith('<tfoot id="list-totals">') and f"{units:,}" in _footer(fetched)
    assert "Show totals" not in fetched
    # 20 records or fewer: the totals come with the page
    assert "Show totals" not in client.get("/e/deal?units.min=6").get_data(as_text=True)
    assert client.get("/e/deal/totals?units.min=x").status_code == 400


def test_long_texts_keep_their_whole_value_on_hover_and_phones_get_key_fields(world):
    app, state, people = world
    service = service_of(app)
    long_name = 'A very long deal name "quoted" <b>not bold</b> that a cell cuts short'
    service.create("deal", {"name": long_name, "units": 1}, people["rep1"])
    client = app.test_client()
    assert sign_in(client, "rep1").status_code == 302
    html = client.get("/e/deal?units.max=1").get_data(as_text=True)
    cell = re.search(r'<td class="key" data-label="Name" title="([^"]*)"><a href="/e/deal/\d+">([^<]*)</a></td>', html)
    assert cell, html
    assert cell.group(1) == cell.group(2) == ("A very long deal name &#34;quoted&#34; &lt;b&gt;not bold&lt;/b&gt; "
                                              "that a cell cuts short")
    # a phone's card: the first column, the next three and the stage carry their labels; the rest not
    row = html.split(long_name.split('"')[0], 1)[1].split("</tr>", 1)[0]
    assert 'data-label="Amount"' in row and 'data-label="Units"' in row and 'data-label="Stage"' in row
    assert 'data-label="Margin"' in row and 'data-label="Chance"' not in row
