"""duration, date_or_datetime, person_name and address on pages: forms over HTTP (create,
show, edit, an unchanged edit), lists (display, filter, sort), CSV export, record pages,
kanban cards, the timeline, Chinese display, and a role that hides them (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from test_forms import field_html, form_values, service_of, setting
from webutil import csrf_of, make_user, sign_in
from werkzeug.datastructures import MultiDict

from engine.records import Actor, Context

CONTACT = """
entity: contact
label: {en: Contact, zh: 联系人}
title: name
stage: stage
fields:
  name: {type: person_name, required: true, label: {en: Name, zh: 姓名}}
  home: {type: address, label: {en: Address, zh: 地址}}
  spent: {type: duration, label: {en: Time spent, zh: 耗时}, max: 100 h}
  due: {type: date_or_datetime, label: {en: Due, zh: 到期}}
  stage: {type: choice, options: [new, won], default: new}
  industry: {type: choice, option_set: industry}
  note: {type: string}
list:
  columns: [name, home, spent, due, industry]
  filters: [spent, due, name, industry]
  sort: [-due]
"""

TAILOR = """
name: kinds
languages: [en, zh]
option_sets:
  industry:
    - {value: tech, label: {en: Technology, zh: 科技}}
    - {value: retail, label: {en: Retail, zh: 零售}}
"""

ROLES = """
roles:
  rep:
    entities:
      contact:
        actions: [read, create, update, export]
        scope: all
        fields: {home: hidden, spent: hidden, due: hidden}
"""


@pytest.fixture
def kinds_app(make_project, make_app):
    root = make_project({"tailor.yaml": TAILOR, "entities/contact.yaml": CONTACT})
    return make_app(root)


@pytest.fixture
def kinds_client(kinds_app):
    client = kinds_app.test_client()
    assert sign_in(client).status_code == 302
    return client


def _create_through_the_form(client) -> tuple[int, list[tuple[str, str]]]:
    html = client.get("/e/contact/new").get_data(as_text=True)
    for key in ("name_salutation", "name_first", "name_middle", "name_last", "name_suffix", "home_city",
                "home_state", "home_postal_code", "home_country", "spent", "due"):
        assert f'name="{key}"' in html, key
    assert '<textarea' in field_html(html, "home") and 'name="home_street"' in html
    assert 'name="name"' not in html and 'name="home"' not in html and 'name="due_time"' not in html
    assert "First name" in html and "Postal code" in html and "e.g. 1:30, 90 min, 1h 30m" in html
    name = field_html(html, "name")  # in English, the given name first
    assert name.index('name="name_first"') < name.index('name="name_middle"') < name.index('name="name_last"')
    values = setting(form_values(html), name_salutation="Dr.", name_first="Jane", name_middle="Q.",
                     name_last="Smith", home_street="1 Main St\r\nApt 2", home_city="Springfield",
                     home_state="IL", home_postal_code="62701", home_country="USA", spent="1h 30m",
                     due="2026-12-04", industry="tech")
    response = client.post("/e/contact/new", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1]), values


def test_form_round_trip(kinds_app, kinds_client):
    service = service_of(kinds_app)
    record_id, _values = _create_through_the_form(kinds_client)
    saved = service.get("contact", record_id)
    assert saved["name"] == "Dr. Jane Q. Smith" and saved["name_last"] == "Smith"
    assert saved["home"] == "1 Main St, Apt 2, Springfield, IL 62701, USA"
    assert saved["home_street"] == "1 Main St\nApt 2"
    assert saved["spent"] == timedelta(hours=1, minutes=30)
    assert saved["due"] == date(2026, 12, 4) and saved["due_time"] is False
    page = kinds_client.get(f"/e/contact/{record_id}").get_data(as_text=True)
    assert "<h1>Dr. Jane Q. Smith</h1>" in page
    assert "1 Main St\nApt 2\nSpringfield, IL 62701\nUSA" in page  # several lines, in the English order
    assert "1 h 30 min" in page and "Dec 4, 2026" in page and "Technology" in page
    # the edit form shows every part again; an unchanged post changes nothing
    html = kinds_client.get(f"/e/contact/{record_id}/edit").get_data(as_text=True)
    assert 'value="Jane"' in html and 'value="1 h 30 min"' in html and 'value="2026-12-04"' in html
    assert "1 Main St\nApt 2</textarea>" in html
    response = kinds_client.post(f"/e/contact/{record_id}/edit", data=MultiDict(form_values(html)))
    assert response.status_code == 303
    assert service.get("contact", record_id)["version"] == 1 and len(service.history("contact", record_id)) == 1
    # one part changed: the full name follows, the other parts stay; a moment in the user's zone
    response = kinds_client.post(f"/e/contact/{record_id}/edit",
                                 data=setting(form_values(html), name_first="Janet", due="2026-12-04 14:30",
                                              spent="45分钟"))
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("contact", record_id)
    assert saved["name"] == "Dr. Janet Q. Smith" and saved["name_middle"] == "Q." and saved["version"] == 2
    assert saved["due"] == datetime(2026, 12, 4, 14, 30, tzinfo=UTC) and saved["due_time"] is True
    assert saved["spent"] == timedelta(minutes=45)
    html = kinds_client.get(f"/e/contact/{record_id}/edit").get_data(as_text=True)
    assert 'value="2026-12-04 14:30"' in html
    page = kinds_client.get(f"/e/contact/{record_id}").get_data(as_text=True)
    assert "Dr. Jane Q. Smith" in page and "Dr. Janet Q. Smith" in page  # the timeline: the full name changed
    assert "(First name)" not in page and "45 min" in page


def test_form_errors_are_shown_next_to_the_parts(kinds_app, kinds_client):
    service = service_of(kinds_app)
    html = kinds_client.get("/e/contact/new").get_data(as_text=True)
    values = setting(form_values(html), name_salutation="Dr.", home_postal_code="12#4", spent="-2 h",
                     due="2026-13-01")
    response = kinds_client.post("/e/contact/new", data=values)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and service.count("contact") == 0
    assert "give a first or a last name" in field_html(text, "name")
    assert "postal code: &#39;12#4&#39;" in field_html(text, "home")
    assert "a duration cannot be negative" in field_html(text, "spent")
    assert "is not a date, or a date and time" in field_html(text, "due")
    response = kinds_client.post("/e/contact/new", data=setting(values, name_salutation="", spent="101 h",
                                                                home_postal_code="", due=""))
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "is required" in field_html(text, "name")
    assert "must be at most 4 d 4 h" in field_html(text, "spent")
    # the full name is worked out, never posted
    response = kinds_client.post("/e/contact/new", data=setting(values, name="Jane Smith", name_last="Smith",
                                                                name_salutation="", home_postal_code="",
                                                                spent="", due=""))
    assert response.status_code == 422 and "is worked out from its parts" in response.get_data(as_text=True)
    assert service.count("contact") == 0


def _seed(service):
    ctx = Context()
    records = [
        {"name": {"first": "Jane", "last": "Smith"}, "spent": "90", "due": "2026-12-04",
         "home": {"street": "1 Main St", "city": "Springfield", "state": "IL", "country": "USA"}},
        {"name": {"first": "伟", "last": "张"}, "spent": "2 h", "due": "2026-12-04T09:00:00Z",
         "home": {"country": "中国", "state": "上海市", "city": "浦东新区", "street": "世纪大道100号",
                  "postal_code": "200120"}},
        {"name": {"first": "Ann", "last": "Lee"}, "spent": "20 min", "due": "2026-12-06 08:00"},
        {"name": {"last": "Nobody"}},
    ]
    return [service.create("contact", r, ctx) for r in records]


def test_lists_show_filter_and_sort(kinds_app, kinds_client):
    service = service_of(kinds_app)
    jane, zhang, ann, nobody = _seed(service)
    page = kinds_client.get("/e/contact").get_data(as_text=True)
    assert "1 h 30 min" in page and "2 h" in page and "20 min" in page
    assert "1 Main St, Springfield, IL, USA" in page
    assert "中国, 上海市浦东新区, 世纪大道100号, 200120" in page
    # duration range: what a person types
    page = kinds_client.get("/e/contact?spent.min=1:00&spent.max=1.5+h").get_data(as_text=True)
    assert "Jane Smith" in page and "张伟" not in page and "Ann Lee" not in page
    page = kinds_client.get("/e/contact?spent.min=1小时").get_data(as_text=True)
    assert "Jane Smith" in page and "张伟" in page and "Ann Lee" not in page
    response = kinds_client.get("/e/contact?spent.min=soon")
    assert response.status_code == 400 and "is not a duration" in response.get_data(as_text=True)
    # days and moments in one range filter, and in one sort
    page = kinds_client.get("/e/contact?due.from=2026-12-04&due.to=2026-12-04").get_data(as_text=True)
    assert "Jane Smith" in page and "张伟" in page and "Ann Lee" not in page
    page = kinds_client.get("/e/contact?sort=due").get_data(as_text=True)
    assert page.index("Jane Smith") < page.index("张伟") < page.index("Ann Lee")
    page = kinds_client.get("/e/contact?sort=-spent").get_data(as_text=True)
    assert page.index("张伟") < page.index("Jane Smith") < page.index("Ann Lee")
    page = kinds_client.get("/e/contact?sort=name").get_data(as_text=True)
    assert page.index("Ann Lee") < page.index("Jane Smith") < page.index("Nobody")
    # the full name is a text filter and a search
    page = kinds_client.get("/e/contact?name=smi").get_data(as_text=True)
    assert "Jane Smith" in page and "Ann Lee" not in page
    page = kinds_client.get("/e/contact?q=张").get_data(as_text=True)
    assert "张伟" in page and "Jane Smith" not in page
    assert {nobody["id"]} == {r["id"] for r in service.list("contact", limit=10, filters=[("spent", "empty", None)])}


def test_csv_export_and_kanban(kinds_app, kinds_client):
    service = service_of(kinds_app)
    _seed(service)
    response = kinds_client.get("/e/contact/export.csv?sort=due&due.from=2026-01-01")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Name", "Address", "Time spent", "Due", "Industry"]
    assert rows[1] == ["Jane Smith", "1 Main St, Springfield, IL, USA", "1:30", "2026-12-04", ""]
    assert rows[2][:4] == ["张伟", "中国, 上海市浦东新区, 世纪大道100号, 200120", "2:00", "2026-12-04T09:00:00+00:00"]
    board = kinds_client.get("/e/contact/board").get_data(as_text=True)
    assert "Jane Smith" in board and "1 h 30 min" in board and "1 Main St, Springfield, IL, USA" in board


def test_chinese_display(kinds_app, kinds_client):
    service = service_of(kinds_app)
    jane, zhang, _ann, _nobody = _seed(service)
    page = kinds_client.get("/home").get_data(as_text=True)
    kinds_client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    page = kinds_client.get(f"/e/contact/{zhang['id']}").get_data(as_text=True)
    assert "中国\n上海市浦东新区\n世纪大道100号\n200120" in page and "2小时" in page
    page = kinds_client.get(f"/e/contact/{jane['id']}").get_data(as_text=True)
    assert "1 Main St\nSpringfield, IL\nUSA" in page and "1小时30分钟" in page  # an American address stays one
    html = kinds_client.get("/e/contact/new").get_data(as_text=True)
    assert "名" in field_html(html, "name") and "邮政编码" in field_html(html, "home")
    assert "科技" in html
    name = field_html(html, "name")  # the family name is asked first in Chinese (姓 before 名)
    assert name.index('name="name_last"') < name.index('name="name_first"') < name.index('name="name_middle"')


def test_a_role_that_hides_a_field_hides_its_parts(make_project, make_app):
    unsorted = CONTACT.replace("  sort: [-due]\n", "")  # a list is never sorted by a field a role hides
    root = make_project({"tailor.yaml": TAILOR, "entities/contact.yaml": unsorted, "roles.yaml": ROLES})
    app = make_app(root, users=())
    service = service_of(app)
    rita = make_user(app.extensions["tailor"].engine, app.extensions["tailor"].model, "rita", ("rep",))
    jane, zhang, _ann, _nobody = _seed(service)
    client = app.test_client()
    assert sign_in(client, "rita").status_code == 302
    page = client.get(f"/e/contact/{zhang['id']}").get_data(as_text=True)
    assert "张伟" in page
    for secret in ("上海", "200120", "2 h", "2小时", "Due", "Time spent"):
        assert secret not in page, secret
    listing = client.get("/e/contact").get_data(as_text=True)
    assert "Springfield" not in listing and "1 h 30 min" not in listing
    assert client.get("/e/contact?spent.min=1").status_code == 400
    assert client.get("/e/contact?sort=due").status_code == 400
    exported = client.get("/e/contact/export.csv").get_data(as_text=True)
    assert "Springfield" not in exported and "Address" not in exported
    html = client.get("/e/contact/new").get_data(as_text=True)
    assert 'name="home_city"' not in html and 'name="due"' not in html and 'name="spent"' not in html
    response = client.post("/e/contact/new", data=setting(form_values(html), name_last="Lee", home_city="Paris"))
    assert response.status_code == 422 and service.count("contact") == 4
    # through the service: every part is gone from what the rep reads
    rep = Actor(id=rita, username="rita", roles=("rep",))
    for row in service.list("contact", limit=10, context=Context(actor=rep)):
        assert not {k for k in row if k.startswith(("home", "spent", "due"))}, row


def test_a_name_from_before_the_field_had_parts_is_offered_split(kinds_app, kinds_client):
    """A string field changed to person_name keeps its text as the full name: the form offers
    it in parts, and saving another field leaves the name as it was."""
    import sqlalchemy as sa

    from engine.storage import write_engine

    service = service_of(kinds_app)
    record = service.create("contact", {"name_last": "placeholder"})
    with write_engine(service.engine).begin() as conn:  # as a migration from `string` leaves it
        conn.execute(sa.text("UPDATE contact SET name = '欧阳娜娜', name_last = NULL WHERE id = :id"),
                     {"id": record["id"]})
    html = kinds_client.get(f"/e/contact/{record['id']}/edit").get_data(as_text=True)
    assert 'name="name_last" type="text" value="欧阳"' in html and 'value="娜娜"' in html
    response = kinds_client.post(f"/e/contact/{record['id']}/edit",
                                 data=setting(form_values(html), note="met at the fair"))
    assert response.status_code == 303, response.get_data(as_text=True)
    saved = service.get("contact", record["id"])
    assert saved["note"] == "met at the fair" and saved["name"] == "欧阳娜娜" and saved["name_last"] is None
    html = kinds_client.get(f"/e/contact/{record['id']}/edit").get_data(as_text=True)
    response = kinds_client.post(f"/e/contact/{record['id']}/edit",
                                 data=setting(form_values(html), name_first="娜"))
    assert response.status_code == 303
    saved = service.get("contact", record["id"])
    assert saved["name"] == "欧阳娜" and saved["name_last"] == "欧阳"
