"""The hand-written page `make bench` compares Tailor's list page with: what a developer
would write without Tailor — Flask, SQLAlchemy Core, the same query (50 opportunities of
one stage, newest close date first, customer names looked up in one more query) and a
plain Jinja table. No sign-in, no permissions, no translations: a generous baseline."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, request

from engine.storage import make_engine

engine = make_engine(os.environ["BENCH_DATABASE_URL"])
metadata = sa.MetaData()
opportunity = sa.Table("opportunity", metadata, autoload_with=engine)
customer = sa.Table("customer", metadata, autoload_with=engine)
COLUMNS = ["title", "customer", "stage", "amount", "probability", "expected_revenue", "close_date", "owner"]
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Opportunities</title></head><body>
<h1>Opportunities</h1><table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr><td><a href="/opportunities/{{ row.id }}">{{ row.title }}</a></td>
<td>{{ names.get(row.customer, '') }}</td><td>{{ row.stage }}</td><td>{{ row.amount }} {{ row.amount_currency }}</td>
<td>{{ row.probability }}</td><td>{{ row.expected_revenue }}</td><td>{{ row.close_date }}</td><td>{{ row.owner or '' }}</td>
</tr>{% endfor %}</tbody></table></body></html>"""

app = Flask(__name__)
page = app.jinja_env.from_string(PAGE)  # compiled once, as a template file would be


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
