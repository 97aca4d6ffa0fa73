"""The hand-written pages `make bench` compares Tailor's list page with: what a developer
would write without Tailor, with Flask and SQLAlchemy Core, for the same query (50
opportunities of one stage, newest close date first, customer names looked up in one more
query). Two of them:

* `/opportunities` — the minimal page: the rows in a plain table, raw values, no sign-in.
  Nothing a real CRM page can do without is left out of Tailor's side, so this is the
  strictest comparison.
* `/full/opportunities` — the equivalent page: what Tailor's page shows, written by hand.
  It checks the signed-in user (session cookie, one query), counts up to 1,000, formats
  money, percentages and dates for the user's locale with Flask-Babel, shows stage labels
  as badges, and renders the same layout: menu, language and sign-out forms, saved views,
  the filter form with owners, sortable headers, row checkboxes, next-page link.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, g, request, session
from flask_babel import Babel, format_date, format_decimal, get_locale
from flask_wtf.csrf import generate_csrf

from engine.storage import make_engine

engine = make_engine(os.environ["BENCH_DATABASE_URL"])
metadata = sa.MetaData()
opportunity = sa.Table("opportunity", metadata, autoload_with=engine)
customer = sa.Table("customer", metadata, autoload_with=engine)
users = sa.Table("tailor_user", metadata, autoload_with=engine)
saved_views = sa.Table("tailor_saved_view", metadata, autoload_with=engine)
COLUMNS = ["title", "customer", "stage", "amount", "probability", "expected_revenue", "close_date", "owner"]
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Opportunities</title></head><body>
<h1>Opportunities</h1><table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr><td><a href="/opportunities/{{ row.id }}">{{ row.title }}</a></td>
<td>{{ names.get(row.customer, '') }}</td><td>{{ row.stage }}</td><td>{{ row.amount }} {{ row.amount_currency }}</td>
<td>{{ row.probability }}</td><td>{{ row.expected_revenue }}</td><td>{{ row.close_date }}</td><td>{{ row.owner or '' }}</td>
</tr>{% endfor %}</tbody></table></body></html>"""

STAGES = {"prospecting": ("Prospecting", "初步接触", "gray"), "qualification": ("Qualification", "需求确认", "blue"),
          "proposal": ("Proposal", "方案报价", "purple"), "negotiation": ("Negotiation", "商务谈判", "orange"),
          "won": ("Won", "赢单", "green"), "lost": ("Lost", "输单", "red")}
MENU = [("Customers", ["customer", "contact", "activity"]), ("Sales", ["lead", "opportunity", "sales_order", "product"])]
HEADERS = {"title": "Title", "customer": "Customer", "stage": "Stage", "amount": "Amount", "probability": "Probability",
           "expected_revenue": "Expected revenue", "close_date": "Expected close", "owner": "Owner"}
FULL_PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Opportunities</title><link rel="stylesheet" href="/assets/tailor.css"></head>
<body hx-headers='{"X-CSRFToken": "{{ csrf }}"}'>
<header class="topbar"><a class="brand" href="/home">Tailor CRM</a>
  <form class="search" action="/search" method="get"><input type="search" name="q" placeholder="Search"></form>
  <nav class="usermenu">
    <form action="/language" method="post" class="inline"><input type="hidden" name="csrf_token" value="{{ csrf }}">
      <input type="hidden" name="next" value="{{ request.full_path }}"><button class="link" name="language" value="zh">中文</button></form>
    <span class="who">{{ user.display_name or user.username }}</span>
    <form action="/sign-out" method="post" class="inline"><input type="hidden" name="csrf_token" value="{{ csrf }}">
      <button class="link">Sign out</button></form>
  </nav></header>
<div class="layout"><nav class="sidebar">
{% for group, names in menu %}<div class="group">{{ group }}</div>
{% for name in names %}<a href="/e/{{ name }}"{% if name == 'opportunity' %} class="current"{% endif %}>{{ name }}</a>{% endfor %}{% endfor %}
</nav><main>
<div class="toolbar"><h1>Opportunities</h1><span class="muted">{{ '1,000+' if total > 1000 else total }} records</span>
  <a class="button" href="/e/opportunity/board?stage={{ stage }}">Board</a>
  <a class="button" href="/e/opportunity/export.csv?stage={{ stage }}&sort={{ sort }}">Export CSV</a></div>
<div class="views"><span class="muted">Saved views:</span>
{% for v in views %}<span class="view"><a href="/e/opportunity?view={{ v.id }}">{{ v.name }}</a></span>{% else %}<span class="muted">none yet</span>{% endfor %}
<form method="post" action="/e/opportunity/views" class="save-view"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="text" name="name" required maxlength="80"><button>Save view</button></form></div>
<details class="card filters" open><summary>Filters and columns</summary>
<form method="get" action="/e/opportunity"><div class="filter-grid">
<label>Search <input type="search" name="q" value="{{ request.args.get('q', '') }}" maxlength="200"></label>
<label>Stage <select name="stage"><option value="">Any</option>{% for value, s in stages.items() %}
<option value="{{ value }}"{% if value == stage %} selected{% endif %}>{{ s[1] if lang == 'zh' else s[0] }}</option>{% endfor %}</select></label>
<div class="lookup"><span class="caption">Customer</span><input type="hidden" name="customer" value="">
<input type="search" class="lookup-q" name="q" form="tailor-no-form" hx-get="/e/customer/lookup"></div>
<fieldset><legend>Expected close</legend><input type="date" name="close_date.from"> – <input type="date" name="close_date.to"></fieldset>
<fieldset><legend>Amount</legend><input type="text" name="amount.min"> – <input type="text" name="amount.max"></fieldset>
<label>Owner <select name="owner"><option value="">Any</option><option value="mine">Mine</option>
{% for u in everyone %}<option value="{{ u.id }}">{{ u.display_name or u.username }}</option>{% endfor %}</select></label>
</div><fieldset class="colpick"><legend>Columns</legend>{% for c, text in headers.items() %}
<label><input type="checkbox" name="cols" value="{{ c }}" checked> {{ text }}</label>{% endfor %}</fieldset>
<button class="primary">Apply</button></form></details>
<form id="bulk" method="post" action="/e/opportunity/bulk-delete"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<div class="table-wrap"><table class="grid"><thead><tr><th class="check"><input type="checkbox" data-select-all></th>
{% for c, text in headers.items() %}<th><a href="/e/opportunity?stage={{ stage }}&sort={{ '' if sort == '-' ~ c else '-' }}{{ c }}">{{ text }}</a></th>{% endfor %}
</tr></thead><tbody>
{% for row in rows %}<tr><td class="check"><input type="checkbox" name="ids" value="{{ row.id }}" aria-label="Select #{{ row.id }}"></td>
<td><a href="/e/opportunity/{{ row.id }}">{{ row.title }}</a></td>
<td>{% if row.customer %}<a href="/e/customer/{{ row.customer }}">{{ names.get(row.customer, '#' ~ row.customer) }}</a>{% endif %}</td>
<td>{% set s = stages.get(row.stage) %}{% if s %}<span class="badge {{ s[2] }}">{{ s[1] if lang == 'zh' else s[0] }}</span>{% endif %}</td>
<td class="num">{{ money(row.amount) }} {{ row.amount_currency or '' }}</td>
<td class="num">{{ number(row.probability) }} %</td><td class="num">{{ number(row.expected_revenue) }}</td>
<td>{{ date(row.close_date) }}</td><td>{{ owners.get(row.owner, '') }}</td></tr>
{% endfor %}</tbody></table></div>
<div class="toolbar pager"><button class="danger" name="action" value="delete">Delete selected</button>
{% if next_url %}<a class="button" href="{{ next_url }}" rel="next">Next page</a>{% endif %}</div></form>
</main></div></body></html>"""

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("TAILOR_SECRET_KEY", "bench")
Babel(app, locale_selector=lambda: g.user["language"] or "en" if g.get("user") else "en")
page = app.jinja_env.from_string(PAGE)  # compiled once, as a template file would be
full_page = app.jinja_env.from_string(FULL_PAGE)


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/opportunities")
def opportunities():
    stage = request.args.get("stage", "proposal")
    query = (sa.select(opportunity.c.id, opportunity.c.amount_currency, *[opportunity.c[c] for c in COLUMNS])
             .where(opportunity.c.stage == stage)
             .order_by(opportunity.c.close_date.desc(), opportunity.c.id.desc()).limit(50))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        ids = {r.customer for r in rows if r.customer is not None}
        names = dict(conn.execute(sa.select(customer.c.id, customer.c.name).where(customer.c.id.in_(ids))).all())
    return page.render(rows=rows, names=names, columns=COLUMNS)


@app.get("/bench-sign-in/<username>")
def bench_sign_in(username: str):
    """Signs the load generator in (the bench has no use for a password form here)."""
    with engine.connect() as conn:
        session["user_id"] = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()
    return {"ok": True}


@app.get("/full/opportunities")
def full_opportunities():
    stage = request.args.get("stage", "proposal")
    if stage not in STAGES:
        abort(400)
    where = opportunity.c.stage == stage
    term = request.args.get("q", "").strip()[:200]
    if term:  # the naive search: case-insensitive (ASCII on SQLite), accents not ignored
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where = sa.and_(where, opportunity.c.title.ilike(f"%{escaped}%", escape="\\"))
    query = (sa.select(opportunity.c.id, opportunity.c.amount_currency, *[opportunity.c[c] for c in COLUMNS])
             .where(where).order_by(opportunity.c.close_date.desc(), opportunity.c.id.desc()).limit(51))
    with engine.connect() as conn:
        user = conn.execute(sa.select(users).where(users.c.id == session.get("user_id"))).mappings().first()
        if user is None or not user["is_active"]:
            abort(401)
        g.user = user
        rows = conn.execute(query).all()
        total = conn.execute(sa.select(sa.func.count()).select_from(
            sa.select(opportunity.c.id).where(where).limit(1001).subquery())).scalar_one()
        ids = {r.customer for r in rows if r.customer is not None}
        names = dict(conn.execute(sa.select(customer.c.id, customer.c.name).where(customer.c.id.in_(ids))).all())
        everyone = conn.execute(sa.select(users.c.id, users.c.display_name, users.c.username)
                                .where(users.c.is_active.is_(True)).order_by(users.c.display_name).limit(500)).all()
        views = conn.execute(sa.select(saved_views.c.id, saved_views.c.name)
                             .where(saved_views.c.user_id == user["id"], saved_views.c.entity == "opportunity")).all()
    next_url = None
    if len(rows) > 50:
        rows = rows[:50]
        next_url = f"/e/opportunity?stage={stage}&after={rows[-1].close_date}.{rows[-1].id}"
    return full_page.render(
        rows=rows, names=names, total=total, everyone=everyone, views=views, stage=stage, sort="-close_date",
        owners={u.id: u.display_name or u.username for u in everyone}, stages=STAGES, menu=MENU, headers=HEADERS,
        user=user, lang=str(get_locale()), csrf=generate_csrf(), request=request, next_url=next_url,
        money=lambda v: format_decimal(v, format="#,##0.00") if v is not None else "",
        number=lambda v: format_decimal(v) if v is not None else "",
        date=lambda v: format_date(v, "medium") if v is not None else "")
