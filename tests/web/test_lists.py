"""List pages: columns and labels, filters, sort, keyset paging, capped count, hidden
fields, CSV export, saved views and bulk delete — over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from listutil import plain_cells
from webutil import csrf_of, sign_in

from engine.records import Actor, Context, Query
from engine.storage import saved_views, users, write_engine

IDS = re.compile(r'name="ids" value="(\d+)"')
NEXT = re.compile(r'<a class="button" href="([^"]+)" rel="next">')


def service_of(app):
    return app.extensions["tailor"].service


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [int(i) for i in IDS.findall(response.get_data(as_text=True))]


def expected_ids(app, entity: str, **query) -> list[int]:
    return [r["id"] for r in service_of(app).list(entity, Query(limit=1000, **query))]


def user_id(app, username: str) -> int:
    with app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()


def unescape(url: str) -> str:
    return url.replace("&amp;", "&")


# -- columns and labels ---------------------------------------------------------------------------
def test_list_shows_demo_rows_with_labels(client, crm_app):
    response = client.get("/e/opportunity")
    html = response.get_data(as_text=True)
    rows = service_of(crm_app).list("opportunity", Query(limit=1000))
    assert sorted(ids_of(response)) == sorted(r["id"] for r in rows) and len(rows) == 25
    assert ids_of(response) == expected_ids(crm_app, "opportunity")  # list.sort: -close_date
    assert "25 records" in html
    assert '<span class="badge green">Won</span>' in html and '<span class="badge red">Lost</span>' in html
    assert "华信精密二期扩产 4 台 VMC850" in html
    # a link shows the customer's name, linking to it; money has its currency
    assert '<a href="/e/customer/1">苏州华信精密机械有限公司</a>' in html
    assert re.search(r'<td class="num">1,036,000\.00 CNY</td>', plain_cells(html))
    assert '<th class="num"' in html  # numbers right-aligned
    assert "王磊" in html or "Emily Chen" in html  # owner as a name, not an id
    assert "Description" not in re.search(r"<thead>.*</thead>", html, re.S).group(0)  # not a list column
    # in Chinese: labels of the options and of the columns
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(html)})
    html = client.get("/e/opportunity").get_data(as_text=True)
    assert '<span class="badge green">赢单</span>' in html and "商机名称" in html


def test_linked_titles_are_read_once_per_entity(client, crm_app):
    engine = crm_app.extensions["tailor"].engine
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        html = client.get("/e/activity").get_data(as_text=True)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert html.count('href="/e/customer/') >= 40  # 43 activities, each with its customer
    by_id = [s for s in statements if re.search(r"FROM customer\s+WHERE customer\.id IN", s)]
    assert len(by_id) == 1


# -- filters --------------------------------------------------------------------------------------
def test_each_filter_kind_narrows_the_list(client, crm_app):
    service = service_of(crm_app)
    every = set(expected_ids(crm_app, "opportunity"))

    def check(url, entity="opportunity", **query):
        shown = ids_of(client.get(url))
        wanted = expected_ids(crm_app, entity, **query)
        assert sorted(shown) == sorted(wanted), url
        return shown

    won = check("/e/opportunity?stage=won", filters=[("stage", "eq", "won")])
    assert 0 < len(won) < len(every)
    customer = service.list("opportunity", Query(limit=1))[0]["customer"]
    assert 0 < len(check(f"/e/opportunity?customer={customer}", filters=[("customer", "eq", customer)])) < len(every)
    december = check("/e/opportunity?close_date.from=2026-12-01&close_date.to=2026-12-31",
                     filters=[("close_date", "gte", "2026-12-01"), ("close_date", "lte", "2026-12-31")])
    assert 0 < len(december) < len(every)
    assert check("/e/opportunity?close_date.from=2026-12-20&close_date.to=2026-12-20",
                 filters=[("close_date", "eq", "2026-12-20")])  # both ends included
    big = check("/e/opportunity?amount.min=500000&amount.max=1000000",
                filters=[("amount", "gte", 500000), ("amount", "lte", 1000000)])
    assert 0 < len(big) < len(every)
    found = check("/e/opportunity?q=华信", search="华信")
    assert 0 < len(found) < len(every)
    # owner: "mine" (alice owns one) and a user id
    alice = user_id(crm_app, "alice")
    mine = service.create("opportunity", {"title": "Alice's deal", "customer": customer, "amount": 5},
                          Context(actor=Actor(id=alice, username="alice", roles=("admin",))))
    assert ids_of(client.get("/e/opportunity?owner=mine")) == [mine["id"]]
    wang = user_id(crm_app, "wang.lei")
    assert 0 < len(check(f"/e/opportunity?owner={wang}", filters=[("owner", "eq", wang)])) < len(every)
    # boolean, user field and a date-time range (customers were created today)
    done = check("/e/activity?done=1", "activity", filters=[("done", "eq", True)])
    not_done = check("/e/activity?done=0", "activity", filters=[("done", "eq", False)])
    assert done and not_done and not set(done) & set(not_done)
    assert check(f"/e/customer?account_manager={wang}", "customer", filters=[("account_manager", "eq", wang)])
    today = datetime.now(UTC).date()
    assert len(ids_of(client.get(f"/e/customer?created_at.from={today}&created_at.to={today}"))) == 15
    assert ids_of(client.get(f"/e/customer?created_at.to={today - timedelta(days=1)}")) == []
    assert check("/e/customer?level=high&classification=key_account", "customer",
                 filters=[("level", "eq", "high"), ("classification", "eq", "key_account")])
    # filters combine with search and with each other
    assert check("/e/opportunity?stage=won&amount.min=100000",
                 filters=[("stage", "eq", "won"), ("amount", "gte", 100000)])
    # empty values from the GET form mean "any"
    assert sorted(ids_of(client.get("/e/opportunity?stage=&amount.min=&q="))) == sorted(every | {mine["id"]})


def test_filter_form_shows_choices_links_users_and_ranges(client, crm_app):
    html = client.get("/e/opportunity?stage=won").get_data(as_text=True)
    assert '<option value="won" selected>Won</option>' in html
    # a link filter searches as you type (GET /e/customer/lookup), it does not list every customer
    assert '<input type="hidden" name="customer" value="">' in html
    assert 'hx-get="/e/customer/lookup"' in html and "<select name=\"customer\">" not in html
    customer = service_of(crm_app).list("customer", Query(limit=1, filters=[("name", "eq", "苏州华信精密机械有限公司")]))[0]
    html = client.get(f"/e/opportunity?customer={customer['id']}").get_data(as_text=True)
    assert f'<input type="hidden" name="customer" value="{customer["id"]}">' in html
    assert 'value="苏州华信精密机械有限公司"' in html  # the chosen customer's name in the search box
    matches = client.get("/e/customer/lookup?q=华信").get_data(as_text=True)
    assert f'data-id="{customer["id"]}"' in matches
    assert '<option value="mine">Mine</option>' in html
    assert 'name="close_date.from"' in html and 'name="amount.max"' in html and 'name="q"' in html


BAD_QUERIES = [
    "amount.min=abc", "amount.max=1e400", "amount.min=99999999999999999999999999", "amount.max=NaN",
    "close_date.from=2026-13-01", "close_date.to=yesterday", "customer=abc", "customer=-4",
    "customer=99999999999999999999999", "owner=someone", "stage=nope", "nonexistent=1", "description=x",
    "probability.min=5", "title=x", "after=not-a-cursor", "after=e30", "q=%00", "q=" + "x" * 300,
    "cols=nonexistent", "sort=amount&sort=title", "stage=won&stage=lost&amount.min=1&amount.min=2",
]


def test_bad_parameters_are_400(client):
    """A user mistake in the URL is a clear 400 page, never a 500 (one app for all cases)."""
    for query in BAD_QUERIES:
        response = client.get(f"/e/opportunity?{query}")
        assert response.status_code == 400, query
        assert "Bad request" in response.get_data(as_text=True)
        if not query.startswith("after="):  # an export starts at the first row anyway
            assert client.get(f"/e/opportunity/export.csv?{query}").status_code == 400, query


def test_several_values_of_a_choice(client, crm_app):
    shown = ids_of(client.get("/e/opportunity?stage=won&stage=lost"))
    assert sorted(shown) == sorted(expected_ids(crm_app, "opportunity", filters=[("stage", "in", "won,lost")]))


# -- sort -----------------------------------------------------------------------------------------
def test_sort_on_a_column(client, crm_app):
    html = client.get("/e/opportunity").get_data(as_text=True)
    assert '<a href="/e/opportunity?sort=amount">' in html  # headers are sort links
    ascending = ids_of(client.get("/e/opportunity?sort=amount"))
    assert ascending == expected_ids(crm_app, "opportunity", sort=("amount",))
    descending = ids_of(client.get("/e/opportunity?sort=-amount"))
    assert descending == expected_ids(crm_app, "opportunity", sort=("-amount",))
    assert ascending != descending
    amounts = [r["amount"] for r in service_of(crm_app).list("opportunity", Query(sort=("amount",), limit=100))]
    assert amounts == sorted(amounts)
    # the header of the sorted column now sorts the other way; filters are kept
    html = client.get("/e/opportunity?stage=won&sort=amount").get_data(as_text=True)
    assert 'href="/e/opportunity?stage=won&amp;sort=-amount">Amount ▲' in html


def test_sort_outside_the_whitelist_is_refused(client):
    for sort in ["description", "nonexistent", "--amount", "competitors", "overdue", "version", "contact",
                 "amount;drop", "-"]:
        response = client.get(f"/e/opportunity?sort={sort}")
        assert response.status_code == 400 and "cannot sort" in response.get_data(as_text=True), sort
    assert client.get("/e/opportunity?sort=").status_code == 200  # none given: the default order


# -- paging ---------------------------------------------------------------------------------------
PAGED = {
    "entities/note.yaml": """
        entity: note
        title: name
        stage: status
        fields:
          name:   {type: string, required: true}
          secret: {type: string, hidden: true, label: {en: Secret code}}
          score:  {type: integer, label: {en: Score}}
          day:    {type: date, label: {en: Day}}
          status:
            type: choice
            default: open
            options:
              - {value: open, label: {en: Open, zh: 打开}, color: blue}
              - {value: old, label: {en: Old}, hidden: true}
              - {value: done, label: {en: Done}, color: green}
        list:
          columns: [name, secret, score, day, status]
          filters: [secret, score, status]
          sort: [score]
          page_size: 5
        """,
}


@pytest.fixture
def paged(make_app, make_project):
    app = make_app(make_project(PAGED), users=("alice", "bob"))
    service = service_of(app)
    with service.transaction():
        for i in range(23):
            service.create("note", {"name": f"note {i:02d}", "secret": f"TOPSECRET-{i}",
                                    "score": None if i % 5 == 0 else i % 4,  # duplicates and NULLs
                                    "day": date(2024, 1, 1) + timedelta(days=i % 3)}, trusted=True)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return app, client


@pytest.mark.parametrize("sort", ["", "sort=-score", "sort=day", "sort=-day"])
def test_next_pages_show_the_next_rows_without_duplicates(paged, sort):
    app, client = paged
    keys = tuple(k for k in [sort.partition("=")[2]] if k) or None
    expected = expected_ids(app, "note", sort=keys)
    url, walked, pages = f"/e/note?{sort}", [], 0
    while url:
        response = client.get(url)
        page = ids_of(response)
        assert len(page) == 5 or not NEXT.search(response.get_data(as_text=True))
        walked += page
        pages += 1
        html = response.get_data(as_text=True)
        assert ("First page" in html) == (pages > 1)
        found = NEXT.search(html)
        url = unescape(found.group(1)) if found else None
        assert pages < 10
    assert pages == 5
    assert len(walked) == len(set(walked)) == 23
    assert walked == expected


def test_next_link_keeps_filters_and_sort(paged):
    app, client = paged
    html = client.get("/e/note?status=open&sort=-score").get_data(as_text=True)
    link = unescape(NEXT.search(html).group(1))
    params = dict(parse_qsl(urlsplit(link).query))
    assert params["status"] == "open" and params["sort"] == "-score" and params["after"]
    second = ids_of(client.get(link))
    first = ids_of(client.get("/e/note?status=open&sort=-score"))
    assert second and not set(first) & set(second)
    # a cursor of one sort is refused under another
    assert client.get(f"/e/note?sort=score&after={params['after']}").status_code == 400


def test_count_is_capped(paged):
    app, client = paged
    assert "23 records" in client.get("/e/note").get_data(as_text=True)
    note = app.extensions["tailor"].model.entities["note"].table
    now = datetime.now(UTC)
    with write_engine(app.extensions["tailor"].engine).begin() as conn:  # test data, fast
        conn.execute(note.insert(), [{"name": f"bulk {i}", "status": "open", "created_at": now, "updated_at": now,
                                      "version": 1} for i in range(1000)])
    html = client.get("/e/note").get_data(as_text=True)
    assert "1000+ records" in html and "1023" not in html
    assert f"{service_of(app).count('note', Query(filters=[('score', 'gte', 0)]))} records" in \
        client.get("/e/note?score.min=0").get_data(as_text=True)


# -- hidden fields --------------------------------------------------------------------------------
def test_hidden_fields_are_never_shown_filtered_sorted_or_exported(paged):
    app, client = paged
    html = client.get("/e/note").get_data(as_text=True)
    assert "TOPSECRET" not in html and "Secret code" not in html and 'name="secret"' not in html
    assert "Score" in html  # the other configured columns are there
    for query in ("secret=TOPSECRET-1", "sort=secret", "cols=name,secret", "q=TOPSECRET"):
        response = client.get(f"/e/note?{query}")
        assert response.status_code == 400 or "TOPSECRET-" not in response.get_data(as_text=True), query
    assert client.get("/e/note?secret=TOPSECRET-1").status_code == 400
    assert client.get("/e/note?sort=secret").status_code == 400
    assert client.get("/e/note?cols=secret").status_code == 400
    export = client.get("/e/note/export.csv")
    text = export.get_data().decode("utf-8-sig")
    assert export.status_code == 200 and "note 01" in text
    assert "TOPSECRET" not in text and "Secret code" not in text
    assert client.get("/e/note/export.csv?cols=secret").status_code == 400


def test_hidden_options_are_not_offered(paged):
    _app, client = paged
    html = client.get("/e/note").get_data(as_text=True)
    assert '<option value="open">Open</option>' in html and '<option value="old">' not in html


# -- columns --------------------------------------------------------------------------------------
def test_choosing_columns(client, crm_app):
    response = client.get("/e/opportunity?cols=title&cols=source")
    html = response.get_data(as_text=True)
    head = re.search(r"<thead>.*</thead>", html, re.S).group(0)
    assert "Title" in head and "Source" in head and "Amount" not in head and "Customer" not in head
    assert len(ids_of(response)) == 25  # every row
    # a virtual computed column reads what it needs
    html = client.get("/e/opportunity?cols=title,overdue").get_data(as_text=True)
    assert "Overdue" in html and ("Yes" in html or "No" in html)
    # only the shown columns are read
    engine = crm_app.extensions["tailor"].engine
    statements = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        client.get("/e/opportunity?cols=title,stage")
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    rows_query = next(s for s in statements if s.lstrip().startswith("SELECT opportunity.id, opportunity.version"))
    assert "opportunity.title" in rows_query and "opportunity.description" not in rows_query
    assert "opportunity.amount" not in rows_query


# -- CSV export -----------------------------------------------------------------------------------
def test_csv_export(client, crm_app):
    response = client.get("/e/opportunity/export.csv?stage=won&close_date.from=2026-01-01&sort=-amount")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Title", "Customer", "Stage", "Amount"] and "Amount (currency)" in rows[0]
    won = service_of(crm_app).list("opportunity", Query(filters=[("stage", "eq", "won"), ("close_date", "gte", "2026-01-01")],
                                                        sort=("-amount",), limit=100))
    assert [r[0] for r in rows[1:]] == [w["title"] for w in won]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Title"] == "华信精密二期扩产 4 台 VMC850"
    assert first["Customer"] == "苏州华信精密机械有限公司" and first["Stage"] == "Won"
    assert first["Amount"] == "1036000.00" and first["Amount (currency)"] == "CNY"
    assert first["Expected close"] == "2026-09-18" and first["Probability"] == "100.00"
    assert client.get("/e/opportunity/export.csv?sort=nonexistent").status_code == 400
    assert client.get("/e/opportunity/export.csv?amount.min=abc").status_code == 400


def test_csv_walks_every_page_and_guards_formulas(paged):
    app, client = paged
    service_of(app).create("note", {"name": "=HYPERLINK(\"http://evil\")", "score": 9})
    rows = list(csv.reader(io.StringIO(client.get("/e/note/export.csv").get_data().decode("utf-8-sig"))))
    assert len(rows) == 1 + 24  # every page, not only the first five rows
    assert rows[0] == ["Name", "Score", "Day", "Status"]
    names = [r[0] for r in rows[1:]]
    assert len(set(names)) == 24 and "'=HYPERLINK(\"http://evil\")" in names
    assert ["note 01", "1", "2024-01-02", "Open"] in rows


# -- saved views ----------------------------------------------------------------------------------
def views_in(app, username: str) -> list[dict]:
    with app.extensions["tailor"].engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(saved_views).join(users, users.c.id == saved_views.c.user_id)
            .where(users.c.username == username).order_by(saved_views.c.id))]


def test_saved_views(paged):
    app, client = paged
    page = client.get("/e/note?status=open&sort=-score&cols=name,score")
    html = page.get_data(as_text=True)
    state = re.search(r'name="state" value="([^"]*)"', html).group(1).replace("&amp;", "&")
    response = client.post("/e/note/views", data={"name": "Open, best first", "state": state,
                                                  "csrf_token": csrf_of(html)})
    assert response.status_code == 303
    [view] = views_in(app, "alice")
    assert view["entity"] == "note" and view["name"] == "Open, best first"
    assert view["state"] == {"filters": {"status": ["open"]}, "sort": "-score", "columns": ["name", "score"],
                             "search": ""}
    # listed as a link that applies it
    html = client.get("/e/note").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)">Open, best first</a>', html)
    assert link
    applied = client.get(unescape(link.group(1)))
    assert ids_of(applied) == expected_ids(app, "note", filters=[("status", "eq", "open")], sort=("-score",))[:5]
    assert "Day" not in re.search(r"<thead>.*</thead>", applied.get_data(as_text=True), re.S).group(0)
    # saving under the same name replaces it
    client.post("/e/note/views", data={"name": "Open, best first", "state": "sort=day", "csrf_token": csrf_of(html)})
    assert [v["state"]["sort"] for v in views_in(app, "alice")] == ["day"]
    # names are text, escaped
    client.post("/e/note/views", data={"name": "<b>bold</b>", "state": "", "csrf_token": csrf_of(html)})
    page = client.get("/e/note").get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt;</a>" in page and "<b>bold</b>" not in page
    client.post(f"/e/note/views/{views_in(app, 'alice')[-1]['id']}/delete", data={"csrf_token": csrf_of(html)})
    # bad states and names are refused, nothing saved
    for data in ({"name": "x", "state": "sort=secret"}, {"name": "x", "state": "nonexistent=1"},
                 {"name": "", "state": ""}, {"name": "y" * 81, "state": ""}):
        assert client.post("/e/note/views", data={**data, "csrf_token": csrf_of(html)}).status_code == 400
    assert client.post("/e/note/views", data={"name": "no token", "state": ""}).status_code == 400
    assert len(views_in(app, "alice")) == 1
    # deleted
    view_id = views_in(app, "alice")[0]["id"]
    assert client.post(f"/e/note/views/{view_id}/delete").status_code == 400  # no CSRF token
    response = client.post(f"/e/note/views/{view_id}/delete", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303 and views_in(app, "alice") == []
    assert "Open, best first" not in client.get("/e/note").get_data(as_text=True)


def test_users_cannot_see_or_delete_each_others_views(paged):
    app, alice = paged
    html = alice.get("/e/note").get_data(as_text=True)
    alice.post("/e/note/views", data={"name": "Alice only", "state": "status=done", "csrf_token": csrf_of(html)})
    [view] = views_in(app, "alice")
    bob = app.test_client()
    assert sign_in(bob, "bob").status_code == 302
    page = bob.get("/e/note").get_data(as_text=True)
    assert "Alice only" not in page
    response = bob.post(f"/e/note/views/{view['id']}/delete", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 404
    assert views_in(app, "alice") == [view]
    # not through another entity's URL either
    assert alice.post(f"/e/nonexistent/views/{view['id']}/delete", data={"csrf_token": csrf_of(html)}).status_code \
        == 404
    assert "Alice only" in alice.get("/e/note").get_data(as_text=True)


# -- bulk delete ----------------------------------------------------------------------------------
def test_bulk_delete_reports_restricted_records_and_deletes_the_rest(client, crm_app):
    service = service_of(crm_app)
    fresh = [service.create("customer", {"name": f"Bulk {i}"})["id"] for i in range(2)]
    used = service.list("opportunity", Query(limit=1))[0]["customer"]  # opportunities restrict its deletion
    used_name = service.get("customer", used)["name"]
    html = client.get("/e/customer?sort=name").get_data(as_text=True)
    response = client.post("/e/customer/bulk-delete", data={
        "ids": [fresh[0], used, fresh[1]], "back": "sort=name", "csrf_token": csrf_of(html)})
    assert response.status_code == 303 and response.headers["Location"] == "/e/customer?sort=name"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Deleted 2 records." in page
    assert "Not deleted:" in page and used_name in page and "still used by" in page
    remaining = {r["id"] for r in service.list("customer", Query(limit=1000))}
    assert used in remaining and not set(fresh) & remaining
    # the report is shown once
    assert "Deleted 2 records." not in client.get("/e/customer").get_data(as_text=True)


def test_bulk_delete_needs_csrf_and_valid_ids(client, crm_app):
    service = service_of(crm_app)
    record = service.create("customer", {"name": "Keep me"})
    response = client.post("/e/customer/bulk-delete", data={"ids": [record["id"]]})
    assert response.status_code == 400
    assert service.get("customer", record["id"])["name"] == "Keep me"
    html = client.get("/e/customer").get_data(as_text=True)
    assert client.post("/e/customer/bulk-delete", data={"ids": ["abc"], "csrf_token": csrf_of(html)}).status_code \
        == 400
    assert service.get("customer", record["id"])
    # an id that is not there is reported, not a 500
    response = client.post("/e/customer/bulk-delete", data={"ids": ["999999"], "csrf_token": csrf_of(html)})
    assert response.status_code == 303
    assert "not found" in client.get("/e/customer").get_data(as_text=True)


# -- small screens --------------------------------------------------------------------------------
def test_table_scrolls_inside_its_wrapper(client):
    html = client.get("/e/opportunity").get_data(as_text=True)
    assert re.search(r'<div class="table-wrap">\s*<table class="grid list">', html)
    assert 'name="viewport"' in html


def test_text_is_escaped(client, crm_app):
    customer = service_of(crm_app).list("customer", Query(limit=1))[0]["id"]
    service_of(crm_app).create("opportunity", {"title": "<script>alert(1)</script>", "customer": customer,
                                               "amount": 1})
    html = client.get("/e/opportunity?q=script").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
