"""An unpolished model over HTTP (SQLite and PostgreSQL): record headings, link titles,
lookups by non-title names, default filters, menu order, related-list headings and option
labels read like a CRM without the YAML saying how."""

from __future__ import annotations

import re
from html import unescape

import pytest
from webutil import csrf_of, sign_in

FILES = {
    "tailor.yaml": """
        name: defaults
        languages: [en, zh]
        menu:
          - group: {en: People, zh: 人员}
            entities: [person]
        """,
    # no label, a salutation first, a title expression, options without labels
    "entities/person.yaml": """
        entity: person
        title: "first_name + ' ' + last_name"
        stage: stage
        fields:
          salutation: {type: string}
          first_name: {type: string}
          last_name: {type: string}
          email: {type: email}
          stage: {type: choice, options: [new_lead, in_progress, closed_won], default: new_lead}
          company: {type: link, to: company}
          rep: {type: user}
          since: {type: date}
          vip: {type: boolean}
          notes: {type: text}
        """,
    "entities/company.yaml": """
        entity: company
        label: {en: Company, zh: 公司}
        menu_order: 2
        fields:
          code: {type: string}
          name: {type: string}
        """,
    "entities/visit.yaml": """
        entity: visit
        fields:
          person: {type: link, to: person}
          topic: {type: string}
        """,
    "entities/ticket.yaml": "entity: ticket\nmenu: People\nfields:\n  subject: {type: string}\n",
    "entities/zebra.yaml": "entity: zebra\nmenu_order: 1\nfields:\n  name: {type: string}\n",
}


@pytest.fixture
def app(make_project, make_app):
    return make_app(make_project(FILES))


@pytest.fixture
def client(app):
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def data(app):
    service = app.extensions["tailor"].service
    huaxin = service.create("company", {"code": "HX", "name": "Huaxin"})
    nameless = service.create("company", {"code": "NN"})
    jane = service.create("person", {"salutation": "Dr.", "first_name": "Jane", "last_name": "Doe",
                                     "email": "jane.doe@example.com", "stage": "closed_won", "company": huaxin["id"]})
    bob = service.create("person", {"salutation": "Mr.", "email": "bob@example.com", "stage": "in_progress"})
    nobody = service.create("person", {"salutation": "Ms."})
    visit = service.create("visit", {"person": jane["id"], "topic": "Demo"})
    return {"huaxin": huaxin, "nameless": nameless, "jane": jane, "bob": bob, "nobody": nobody, "visit": visit}


def heading(html: str) -> str:
    return unescape(re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)).strip()


def to_zh(client) -> None:
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})


def test_record_heading_is_the_title_never_a_salutation(client, data):
    assert heading(client.get(f"/e/person/{data['jane']['id']}").get_data(as_text=True)) == "Jane Doe"
    assert heading(client.get(f"/e/person/{data['bob']['id']}").get_data(as_text=True)) == "bob@example.com"
    assert heading(client.get(f"/e/person/{data['nobody']['id']}").get_data(as_text=True)) == \
        f"Person #{data['nobody']['id']}"
    nameless = client.get(f"/e/company/{data['nameless']['id']}").get_data(as_text=True)
    assert heading(nameless) == f"Company #{data['nameless']['id']}"
    to_zh(client)
    nameless = client.get(f"/e/company/{data['nameless']['id']}").get_data(as_text=True)
    assert heading(nameless) == f"公司 #{data['nameless']['id']}"


def test_link_columns_in_lists_show_titles(client, data):
    html = client.get("/e/visit").get_data(as_text=True)
    assert f'<a href="/e/person/{data["jane"]["id"]}">Jane Doe</a>' in html
    company_list = client.get("/e/person").get_data(as_text=True)
    assert f'<a href="/e/company/{data["huaxin"]["id"]}">Huaxin</a>' in company_list
    # the first column (the title's first field) of a row without it still names the row
    assert f'<a href="/e/person/{data["bob"]["id"]}">bob@example.com</a>' in company_list


def test_lookup_and_search_find_records_by_non_title_names(client, data):
    found = client.get("/e/person/lookup?q=jane.doe@&format=json").get_json()["results"]
    assert found == [{"id": data["jane"]["id"], "title": "Jane Doe"}]
    by_email = client.get("/e/person/lookup?q=BOB@EXAMPLE&format=json").get_json()["results"]
    assert by_email == [{"id": data["bob"]["id"], "title": "bob@example.com"}]
    html = client.get("/e/person/lookup?q=Doe").get_data(as_text=True)
    assert 'data-title="Jane Doe"' in html
    search = client.get("/search?q=jane.doe").get_data(as_text=True)
    assert f'<a href="/e/person/{data["jane"]["id"]}">Jane Doe</a>' in search
    assert client.get("/e/company/lookup?q=HX&format=json").get_json()["results"][0]["title"] == "Huaxin"


def test_default_filters_are_shown_and_work(client, data):
    html = client.get("/e/person").get_data(as_text=True)
    form = html[html.index('class="card filters"'):html.index("</details>", html.index('class="card filters"'))]
    assert '<select name="stage"' in form and 'name="company"' in form and '<select name="rep"' in form
    assert 'name="since.from"' in form and '<select name="vip"' in form
    assert "In progress" in form and "Closed won" in form  # readable option labels
    assert form.index('name="stage"') < form.index('name="company"') < form.index('name="since.from"')
    filtered = client.get("/e/person?stage=closed_won")
    assert filtered.status_code == 200
    text = filtered.get_data(as_text=True)
    assert f'href="/e/person/{data["jane"]["id"]}"' in text and f'href="/e/person/{data["bob"]["id"]}"' not in text


def test_menu_follows_the_yaml(client, data):
    html = client.get("/home").get_data(as_text=True)
    nav = html[html.index('<nav class="sidebar"'):html.index("</nav>", html.index('<nav class="sidebar"'))]
    links = re.findall(r'href="/e/(\w+)"', nav)
    assert links == ["person", "ticket", "zebra", "company", "visit"]  # not company, person, ticket, visit, zebra
    assert "People" in nav and ">Companies<" in nav and ">Visits<" in nav and ">Zebras<" in nav


def test_related_lists_are_headed_by_the_plural_label(client, data):
    html = client.get(f"/e/person/{data['jane']['id']}").get_data(as_text=True)
    related = html[html.index('id="related-visit-person"'):]
    assert re.search(r"<h2>Visits\s*<span", related)
    assert f'<a href="/e/visit/{data["visit"]["id"]}">Demo</a>' in related
    company = client.get(f"/e/company/{data['huaxin']['id']}").get_data(as_text=True)
    people = company[company.index('id="related-person-company"'):]
    assert re.search(r"<h2>People\s*<span", people) and ">Jane Doe</a>" in people
    to_zh(client)
    company = client.get(f"/e/company/{data['huaxin']['id']}").get_data(as_text=True)
    assert "<h1>Huaxin</h1>" in company
    zh_person = client.get(f"/e/visit/{data['visit']['id']}").get_data(as_text=True)
    assert f'<a href="/e/person/{data["jane"]["id"]}">Jane Doe</a>' in zh_person


def test_option_labels_and_board_titles(client, data):
    html = client.get(f"/e/person/{data['jane']['id']}").get_data(as_text=True)
    assert '<span class="badge ">Closed won</span>' in html
    board = client.get("/e/person/board").get_data(as_text=True)
    cards = [unescape(t).strip() for t in re.findall(r'class="kcard-title"[^>]*>(.*?)</a>', board, re.S)]
    assert sorted(cards) == sorted(["Jane Doe", "bob@example.com", f"Person #{data['nobody']['id']}"])
    assert "In progress" in board and "New lead" in board
