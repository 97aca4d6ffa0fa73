"""The designer pages (/design) on the demo CRM, SQLite and PostgreSQL: only designers reach
them (everyone else gets 404 on every URL, GET and POST), every POST needs its CSRF token,
bad input shows the checker's error code and changes nothing, and the happy paths change
the model that every page then serves."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from pagesutil import add_people, client, crm_app, csrf_of, form_values, make_app, signed_in, templates  # noqa: F401

from engine.storage import users, write_engine
from engine.web.state import WebState

GETS = ["/design", "/design/entities/new", "/design/e/customer", "/design/e/customer/fields/new?type=string",
        "/design/e/customer/fields/name", "/design/e/customer/fields/name/rename",
        "/design/e/customer/fields/notes/drop", "/design/e/customer/form", "/design/e/customer/list",
        "/design/e/customer/roles", "/design/changes", "/design/export", "/design/e/nosuch"]
POSTS = ["/design/entities/new", "/design/e/customer", "/design/e/customer/fields/new",
         "/design/e/customer/fields/name", "/design/e/customer/fields/notes/hide",
         "/design/e/customer/fields/notes/restore", "/design/e/customer/fields/name/rename",
         "/design/e/customer/fields/notes/drop", "/design/e/customer/form", "/design/e/customer/list",
         "/design/e/customer/roles", "/design/check-expression/customer", "/design/apply",
         "/design/changes/1/revert"]


def design():
    from engine import design as service

    return service


def changes(app) -> list:
    return design().list_changes(WebState.of(app).engine)


def token(client_) -> str:
    return csrf_of(client_.get("/home").get_data(as_text=True))


def page(client_, url: str) -> str:
    response = client_.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def post_form(client_, url: str, css: str, **changes_) -> tuple[int, str]:
    """Post the form of class `css` on `url` as a browser would, with `changes_` typed in
    (a value of None leaves the input out, as an unticked checkbox)."""
    values = form_values(page(client_, url), css)
    for key, value in changes_.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    response = client_.post(url.split("?")[0], data=values)
    return response.status_code, response.get_data(as_text=True)


def apply_preview(client_, html: str, comment: str = "") -> str:
    """Press Apply on a preview page; returns the change history page it leads to."""
    values = form_values(html, "design-apply")
    values["comment"] = comment
    response = client_.post("/design/apply", data=values)
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    return client_.get(response.headers["Location"]).get_data(as_text=True)


def alert(html: str) -> str:
    """The problems or notice a designer page shows (for assertion messages)."""
    found = re.findall(r'role="alert">(.*?)</div>', html, re.S)
    return " | ".join(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", f)) for f in found) or html[-800:]


def version_of(client_) -> str:
    """The metadata version a designer page carries."""
    return re.search(r'name="version" value="([^"]*)"', page(client_, "/design/e/customer")).group(1)


def model(app):
    client_ = app.test_client()
    client_.get("/health")  # a request: the worker notices the newer metadata version
    return WebState.of(app).model


@pytest.fixture
def app(crm_app):  # noqa: F811
    add_people(crm_app)
    return crm_app


def test_only_designers_reach_the_designer(app):
    for username in ("alice", "rep"):  # the admin role without the flag; a sales rep
        other = signed_in(app, username)
        assert "/design" not in other.get("/home").get_data(as_text=True)
        csrf = token(other)
        for url in GETS:
            assert other.get(url).status_code == 404, (username, url)
        for url in POSTS:
            assert other.post(url, data={"csrf_token": csrf, "ops": "[]"}).status_code == 404, (username, url)
            assert other.post(url).status_code == 404, (username, url, "without a token")
            assert other.get(url).status_code == 404, (username, url, "GET of a POST-only URL: no 405")
        assert other.put("/design").status_code == 404 and other.delete("/design/apply").status_code == 404
    root = signed_in(app, "root")
    assert 'href="/design"' in root.get("/home").get_data(as_text=True)
    for url in GETS[:-1]:
        assert root.get(url).status_code == 200, url
    assert root.get("/design/e/nosuch").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get("/design").status_code == 302  # to the sign-in page, like every page


def test_every_post_needs_its_csrf_token(app):
    root = signed_in(app, "root")
    before = model(app).version
    values = form_values(page(root, "/design/e/customer/fields/new?type=string"), "design-field")
    values.update(name="wechat_id", label_en="WeChat ID")
    values.pop("csrf_token")
    assert root.post("/design/e/customer/fields/new", data=values).status_code == 400
    ops = '[{"path": "entities.customer.fields.wechat_id", "value": {"type": "string"}}]'
    assert root.post("/design/apply", data={"ops": ops, "version": before}).status_code == 400
    assert root.post("/design/apply", data={"ops": ops, "version": before, "csrf_token": "forged"}).status_code == 400
    assert changes(app) == [] and model(app).version == before


@pytest.mark.parametrize(("typed", "code"), [
    ({"name": "name"}, "E311"),                                        # a field of that name exists
    ({"name": "owner"}, "E302"),                                       # reserved: a standard column
    ({"name": "select"}, "E303"),                                      # an SQL keyword
    ({"name": "wechat_id", "visible_when": "nosuch == 1"}, "E502"),     # unknown name in an expression
    ({"name": "wechat_id", "required_when": "level +"}, "E501"),       # expression syntax
])
def test_bad_field_input_shows_the_checkers_code_and_changes_nothing(app, typed, code):
    root = signed_in(app, "root")
    before = model(app).version
    status, html = post_form(root, "/design/e/customer/fields/new?type=string", "design-field", **typed)
    assert status == 422, html[-2000:]
    assert f'<code class="problem-code">{code}</code>' in html
    assert "design-apply" not in html  # no Apply button
    assert changes(app) == [] and model(app).version == before


def test_default_outside_the_options_and_a_link_to_nothing(app):
    root = signed_in(app, "root")
    before = model(app).version
    status, html = post_form(root, "/design/e/customer/fields/new?type=choice", "design-field", name="tier",
                             opt_value_0="gold", opt_label_0_en="Gold", opt_value_1="silver", default="bronze")
    assert status == 422 and '<code class="problem-code">E401</code>' in html, html[-2000:]
    status, html = post_form(root, "/design/e/customer/fields/new?type=link", "design-field", name="parent_company",
                             to="nosuch")
    assert status == 422 and '<code class="problem-code">E306</code>' in html, html[-2000:]
    assert changes(app) == [] and model(app).version == before


def test_expressions_are_checked_as_they_are_typed(app):
    root = signed_in(app, "root")
    csrf = token(root)
    url = "/design/check-expression/customer"
    bad = root.post(url, data={"csrf_token": csrf, "check": "visible_when", "visible_when": "levle == 'high'"})
    assert bad.status_code == 200 and "E502" in bad.get_data(as_text=True) and "levle" in bad.get_data(as_text=True)
    wrong_type = root.post(url, data={"csrf_token": csrf, "check": "required_when", "required_when": "employees + 1"})
    assert "E504" in wrong_type.get_data(as_text=True)
    good = root.post(url, data={"csrf_token": csrf, "check": "visible_when", "visible_when": "level == 'high'"})
    assert "expr-ok" in good.get_data(as_text=True)
    computed = root.post(url, data={"csrf_token": csrf, "check": "expression", "expression": "employees * 2",
                                    "returns": "integer"})
    assert "expr-ok" in computed.get_data(as_text=True)
    assert root.post(url, data={"csrf_token": csrf, "check": "label_en"}).status_code == 400


def test_a_stale_version_from_another_admin_changes_nothing(app):
    root = signed_in(app, "root")
    status, first = post_form(root, "/design/e/customer/fields/new?type=string", "design-field", name="wechat_id",
                              label_en="WeChat ID", label_zh="微信号")
    assert status == 200 and "design-apply" in first, first[-2000:]
    other = signed_in(app, "root")  # another administrator applies a change first
    status, second = post_form(other, "/design/e/customer/fields/new?type=string", "design-field", name="qq",
                               label_en="QQ")
    assert status == 200
    apply_preview(other, second, "QQ numbers")
    stale = form_values(first, "design-apply")
    response = root.post("/design/apply", data=stale)
    assert response.status_code == 409, response.get_data(as_text=True)[-2000:]
    assert "Another administrator" in response.get_data(as_text=True)
    current = model(app)
    assert "qq" in current.entities["customer"].fields and "wechat_id" not in current.entities["customer"].fields
    assert len(changes(app)) == 1


def test_add_a_field_place_it_apply_rename_remove_restore_revert_export(app):
    root = signed_in(app, "root")
    status, html = post_form(root, "/design/e/customer/fields/new?type=string", "design-field", name="wechat_id",
                             label_en="WeChat ID", label_zh="微信号", help_en="Their WeChat account", section="1")
    assert status == 200, html[-3000:]
    assert "entities.customer.fields.wechat_id" in html and "wechat_id" in html.split("design-plan")[1]
    difference = re.search(r'<pre class="design-diff">(.*?)</pre>', html, re.S)
    assert difference and "wechat_id" in difference.group(1), html[-3000:]  # as tailor diff says it
    rows = re.search(r'<td><code>customer</code></td><td class="num">([^<]*)</td>', html)
    assert rows and re.fullmatch(r"[0-9,]+", rows.group(1)), html[-3000:]  # rows affected, as a number
    history = apply_preview(root, html, "WeChat for the sales team")
    assert "WeChat for the sales team" in history and "root" in history.lower()
    customer = model(app).entities["customer"]
    assert customer.fields["wechat_id"].label["zh"] == "微信号"
    assert "wechat_id" in customer.sections[1].fields  # placed in "Contact details"
    rep = signed_in(app, "rep")
    new_form = rep.get("/e/customer/new").get_data(as_text=True)
    assert 'name="wechat_id"' in new_form
    # relabel
    status, html = post_form(root, "/design/e/customer/fields/wechat_id", "design-field", label_en="WeChat")
    assert status == 200 and "entities.customer.fields.wechat_id.label" in html, html[-3000:]
    apply_preview(root, html)
    assert model(app).entities["customer"].fields["wechat_id"].label["en"] == "WeChat"
    # rename: the column is renamed, the form follows
    status, html = post_form(root, "/design/e/customer/fields/wechat_id/rename", "design-rename", new_name="wechat")
    assert status == 200 and "design-apply" in html, html[-3000:]
    apply_preview(root, html)
    customer = model(app).entities["customer"]
    assert "wechat" in customer.fields and "wechat_id" not in customer.fields
    assert "wechat" in customer.sections[1].fields
    # remove (hidden; data kept), then restore
    csrf = token(root)
    hide = root.post("/design/e/customer/fields/wechat/hide", data={"csrf_token": csrf, "version": version_of(root)})
    assert hide.status_code == 200 and "design-apply" in hide.get_data(as_text=True)
    apply_preview(root, hide.get_data(as_text=True))
    assert model(app).entities["customer"].fields["wechat"].hidden
    assert 'name="wechat"' not in rep.get("/e/customer/new").get_data(as_text=True)
    restore = root.post("/design/e/customer/fields/wechat/restore",
                        data={"csrf_token": csrf, "version": version_of(root)})
    apply_preview(root, restore.get_data(as_text=True))
    assert not model(app).entities["customer"].fields["wechat"].hidden
    # export: a zip of YAML naming the field
    exported = root.get("/design/export")
    assert exported.status_code == 200 and exported.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.data)) as archive:
        text = "\n".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".yaml"))
    assert "wechat" in text and "extends" in text
    # revert the first change set: the field it added is gone from the model
    first = min(c.id for c in changes(app))
    reverted = root.post(f"/design/changes/{first}/revert", data={"csrf_token": csrf, "version": version_of(root)})
    assert reverted.status_code == 303, reverted.get_data(as_text=True)[-2000:]
    history = page(root, "/design/changes")
    assert "Reverted" in history
    assert f"Revert of #{first}" in history and f"undoes every change of #{first}" in history
    root.post("/language", data={"csrf_token": csrf, "language": "zh", "next": "/design/changes"})
    assert f"撤销 #{first} 的全部更改" in page(root, "/design/changes")


def test_a_yaml_field_is_renamed_in_the_yaml(app):
    root = signed_in(app, "root")
    assert "renamed_from" in page(root, "/design/e/customer/fields/city/rename")
    response = root.post("/design/e/customer/fields/city/rename",
                         data={"csrf_token": token(root), "new_name": "town", "version": version_of(root)})
    assert response.status_code == 422 and "entities/customer.yaml" in response.get_data(as_text=True)
    assert changes(app) == []


def test_layouts_list_and_role_visibility(app):
    root = signed_in(app, "root")
    status, html = post_form(root, "/design/e/customer/form", "design-layout")
    assert status == 200 and "Nothing changed" in html  # the form as shown is the form as it is
    status, html = post_form(root, "/design/e/customer/form", "design-layout", place_notes="0", order_notes="0")
    assert status == 200 and "entities.customer.form" in html, html[-3000:]
    apply_preview(root, html)
    customer = model(app).entities["customer"]
    assert customer.sections[0].fields[0] == "notes"
    status, html = post_form(root, "/design/e/customer/list", "design-list-layout", col_city=None, stage="level")
    assert status == 200, html[-3000:]
    apply_preview(root, html)
    customer = model(app).entities["customer"]
    assert "city" not in customer.list.columns and customer.stage == "level"
    status, html = post_form(root, "/design/e/customer/roles", "design-roles", role_sales_rep_notes="hidden")
    assert status == 200 and "roles.sales_rep.entities.customer.fields.notes" in html, html[-3000:]
    apply_preview(root, html)
    assert model(app).roles["sales_rep"].rules["customer"].fields["notes"] == "hidden"


def test_drop_column_needs_the_count_of_values(app):
    root = signed_in(app, "root")
    status, html = post_form(root, "/design/e/customer/fields/new?type=string", "design-field", name="fax_no",
                             label_en="Fax")
    apply_preview(root, html)
    service = WebState.of(app).service
    model(app)
    service = WebState.of(app).service
    for record_id in (1, 2):
        version = service.get("customer", record_id)["version"]
        service.update("customer", record_id, {"fax_no": f"0512-123{record_id}"}, version=version)
    drop = "/design/e/customer/fields/fax_no/drop"
    status, html = post_form(root, drop, "design-drop", confirm="2")  # not removed yet
    assert status == 422 and "first" in html
    csrf = token(root)
    hide = root.post("/design/e/customer/fields/fax_no/hide", data={"csrf_token": csrf, "version": version_of(root)})
    apply_preview(root, hide.get_data(as_text=True))
    assert 'class="drop-count">2 ' in page(root, drop)
    status, html = post_form(root, drop, "design-drop", confirm="1")
    assert status == 422 and "fax_no" in model(app).entities["customer"].fields
    status, html = post_form(root, drop, "design-drop", confirm="2")
    assert status == 303, html[-2000:]
    assert "fax_no" not in model(app).entities["customer"].fields
    engine = WebState.of(app).engine
    import sqlalchemy as sa

    assert "fax_no" not in {c["name"] for c in sa.inspect(engine).get_columns("customer")}
    history = page(root, "/design/changes")
    assert "drop column customer.fax_no (2 values)" in history


RATING_PLUGIN = '''
import sqlalchemy as sa
from engine.fields.base import FieldType

class Rating(FieldType):
    name = "rating"
    value_type = "number"
    options = frozenset({"stars"})

    def sql_type(self, field):
        return sa.SmallInteger()

def tailor_field_types():
    return [Rating()]
'''


def test_plugin_field_types_come_from_the_registry(make_project, make_app):  # noqa: F811
    root_folder = make_project({
        "tailor.yaml": "name: p\nlanguages: [en, zh]\nplugins: [./rating.py]\n",
        "rating.py": RATING_PLUGIN,
        "entities/review.yaml": "entity: review\nfields:\n  title: {type: string}\n",
    })
    app = make_app(root_folder, users=("root",))
    with write_engine(WebState.of(app).engine).begin() as conn:
        conn.execute(users.update().values(is_admin=True))
    root = signed_in(app, "root")
    listing = page(root, "/design/e/review")
    offered = set(re.findall(r'<option value="([a-z_]+)"', listing.split("design-add-field")[1].split("</form>")[0]))
    assert {"rating", "string", "choice", "link", "computed", "autonumber", "phones"} <= offered
    status, html = post_form(root, "/design/e/review/fields/new?type=rating", "design-field", name="mood",
                             label_en="Mood", label_zh="心情", more="stars: 4\n")
    assert status == 200 and "design-apply" in html, html[-3000:]
    apply_preview(root, html)
    mood = model(app).entities["review"].fields["mood"]
    assert mood.type.name == "rating" and mood.spec["stars"] == 4
    status, html = post_form(root, "/design/e/review/fields/new?type=rating", "design-field", name="bad",
                             more="stars: [4\n")
    assert status == 422 and "E101" in html  # the YAML box is read like a YAML file


def test_the_designer_in_chinese(app):
    root = signed_in(app, "root")
    root.post("/language", data={"language": "zh", "next": "/design", "csrf_token": token(root)})
    html = page(root, "/design")
    assert "设计器" in html and "导出为 YAML" in html and "变更历史" in html
    field_page = page(root, "/design/e/customer/fields/new?type=choice")
    assert "标签（中文）" in field_page and "显示条件" in field_page
    list_page = page(root, "/design/e/customer/list")
    assert "负责人 <code>owner</code>" in list_page and "owner <code>owner</code>" not in list_page
    status, html = post_form(root, "/design/e/customer", "design-entity-settings", label_zh="顾客")
    title = html.split("<h1", 1)[1].split("</h1>", 1)[0]
    assert status == 200 and "客户" in title and "Customer" not in title, alert(html)  # named in zh


def test_a_role_granted_design_may_design(make_project, make_app):  # noqa: F811
    from webutil import make_user

    folder = make_project({
        "entities/review.yaml": "entity: review\nfields:\n  title: {type: string}\n",
        "roles.yaml": ("roles:\n"
                       "  owner:\n    actions: [design]\n    entities:\n      review: {actions: [read]}\n"
                       "  reader:\n    entities:\n      review: {actions: [read]}\n"),
    })
    app = make_app(folder, users=())
    state = WebState.of(app)
    make_user(state.engine, state.model, "olga", roles=("owner",))
    make_user(state.engine, state.model, "rita", roles=("reader",))
    olga, rita = signed_in(app, "olga"), signed_in(app, "rita")
    assert 'href="/design"' in olga.get("/home").get_data(as_text=True)
    assert olga.get("/design/e/review").status_code == 200
    assert 'href="/design"' not in rita.get("/home").get_data(as_text=True)
    assert rita.get("/design/e/review").status_code == 404


def test_every_field_form_posted_as_shown_changes_nothing(app):
    """The edit form of every field of the demo CRM shows the field as the YAML states it:
    posted untouched, it makes no op at all (a key it lost would be a change)."""
    root = signed_in(app, "root")
    current = model(app)
    for entity in current.entities.values():
        for name in entity.fields:
            status, html = post_form(root, f"/design/e/{entity.name}/fields/{name}", "design-field")
            assert status == 200 and "Nothing changed." in html, (entity.name, name, status, alert(html))
    for entity in current.entities.values():
        for url, css in ((f"/design/e/{entity.name}", "design-entity-settings"),
                         (f"/design/e/{entity.name}/form", "design-layout"),
                         (f"/design/e/{entity.name}/list", "design-list-layout"),
                         (f"/design/e/{entity.name}/roles", "design-roles")):
            status, html = post_form(root, url, css)
            assert status == 200 and "Nothing changed." in html, (url, status, alert(html))
    assert changes(app) == []


def test_new_entity_settings_and_options_with_order_and_colour(app):
    root = signed_in(app, "root")
    status, html = post_form(root, "/design/entities/new", "design-form", name="visit", label_en="Visit",
                             label_zh="拜访", plural_en="Visits", plural_zh="拜访记录", icon="map", menu="Customers")
    assert status == 200 and "CREATE TABLE visit" in html, alert(html)
    apply_preview(root, html, "visits")
    visit = model(app).entities["visit"]
    assert visit.label["zh"] == "拜访" and visit.title.field == "name"
    assert root.get("/e/visit").status_code == 200
    # a choice field: options with colours, then reordered (order numbers) and one hidden
    status, html = post_form(root, "/design/e/visit/fields/new?type=choice", "design-field", name="outcome",
                             label_en="Outcome", opt_value_0="good", opt_label_0_en="Good", opt_label_0_zh="好",
                             opt_color_0="green", opt_value_1="bad", opt_label_1_en="Bad", opt_color_1="red",
                             opt_value_2="none", default="none")
    assert status == 200, alert(html)
    apply_preview(root, html)
    outcome = model(app).entities["visit"].fields["outcome"]
    assert [(o.value, o.color) for o in outcome.options] == [("good", "green"), ("bad", "red"), ("none", None)]
    status, html = post_form(root, "/design/e/visit/fields/outcome", "design-field", opt_order_0="3",
                             opt_order_1="1", opt_order_2="2", opt_hidden_0="1")
    assert status == 200 and "entities.visit.fields.outcome.options" in html, alert(html)
    apply_preview(root, html)
    outcome = model(app).entities["visit"].fields["outcome"]
    assert [o.value for o in outcome.options] == ["bad", "none", "good"]
    assert outcome.option("good").hidden and outcome.default == "none"
    # left out of the menu: the navigation no longer shows it, its pages stay
    assert 'href="/e/visit"' in page(root, "/home")
    status, html = post_form(root, "/design/e/visit", "design-entity-settings", not_in_menu="1")
    assert status == 200 and "entities.visit.in_menu" in html, alert(html)
    apply_preview(root, html)
    assert not model(app).entities["visit"].in_menu
    assert 'href="/e/visit"' not in page(root, "/home") and root.get("/e/visit").status_code == 200
    status, html = post_form(root, "/design/e/visit", "design-entity-settings", not_in_menu=None)
    assert status == 200, alert(html)
    apply_preview(root, html)
    assert 'href="/e/visit"' in page(root, "/home")
    # the entity's settings: a new plural, hidden (no pages at all)
    status, html = post_form(root, "/design/e/visit", "design-entity-settings", plural_zh="客户拜访", hidden="1")
    assert status == 200, alert(html)
    apply_preview(root, html)
    visit = model(app).entities["visit"]
    assert visit.plural["zh"] == "客户拜访" and visit.hidden
    assert root.get("/e/visit").status_code == 404 and "/e/visit" not in page(root, "/home")


JUNK_OPS = ["", "[]", "{}", "not json", "[1]", '[{"path": 1}]', '[{"path": "x"}]', '[{"value": 1}]',
            '[{"path": "entities.customer.fields.a", "value": {"type": "nosuch"}}]',
            '[{"path": "entities.customer.fields.a", "value": "text"}]',
            '[{"path": "entities.customer.fields.name", "delete": true}]',
            '[{"path": "roles.sales_rep.entities.customer.fields.name", "value": "owner"}]',
            '[{"path": "entities.customer.form", "value": {"sections": [{"fields": ["nosuch"]}]}}]',
            "[" + ",".join(['{"path": "entities.customer.label", "value": "x"}'] * 5000) + "]"]
JUNK_FIELDS = {"type": "nosuch", "name": "Bad Name!", "opt_value_0": "a", "opt_color_0": "mauve",
               "opt_order_0": "abc", "place_name": "99", "order_name": "x", "section_0_en": "S", "min": "abc",
               "max_length": "-5", "more": "- a list\n", "section": "999", "confirm": "abc", "new_name": "id",
               "col_name": "1", "colorder_name": "1e999", "sort": "nosuch", "stage": "name",
               "role_sales_rep_name": "owner", "check": "visible_when", "visible_when": "(" * 200,
               "default": "5" * 5000 + ".5"}
HUGE = "5" * 5000  # past Python's int() limit of 4300 digits


def test_junk_gets_an_answer_never_a_500(app):
    root = signed_in(app, "root")
    csrf = token(root)
    for ops in JUNK_OPS:
        response = root.post("/design/apply", data={"csrf_token": csrf, "ops": ops, "version": version_of(root)})
        assert response.status_code in (400, 409, 422), (ops[:80], response.status_code)
    for url in POSTS:  # every junk value at once on each page, then one by one on the field form
        if not url.endswith("/apply"):
            response = root.post(url, data={"csrf_token": csrf, "version": "stale", **JUNK_FIELDS})
            assert response.status_code < 500, (url, response.status_code)
    for url, data in (("/design/e/customer/fields/new", {"type": "string", "name": "junk", "section": HUGE}),
                      ("/design/e/customer/fields/notes/drop", {"confirm": HUGE}),
                      ("/design/e/customer/form", {"place_name": HUGE}),
                      ("/design/e/customer/fields/new", {"type": "integer", "name": "junk", "min": HUGE}),
                      ("/design/e/customer/fields/new", {"type": "string", "name": "junk", "max_length": HUGE})):
        response = root.post(url, data={"csrf_token": csrf, "version": version_of(root), **data})
        assert response.status_code < 500, (url, data.keys(), response.status_code)
    for key, value in JUNK_FIELDS.items():
        response = root.post("/design/e/customer/fields/new", data={"csrf_token": csrf, "type": "string",
                                                                   "name": "junk", key: value})
        assert response.status_code < 500, (key, response.status_code)
    assert changes(app) == []


def test_a_links_filter_and_a_copy_from_set_in_the_designer(app):
    """The field form has inputs of their own for a link's `filter` and a field's
    `copy_from` (with the LINK.FIELD choices offered), checked as the YAML is: set there,
    the records service enforces the filter and copies the value."""
    from engine.records import Context, ValidationError
    from engine.records.context import SYSTEM

    root = signed_in(app, "root")
    assert 'name="filter"' in page(root, "/design/e/ticket/fields/product")
    new_field = page(root, "/design/e/ticket/fields/new?type=string")
    assert 'name="copy_from"' in new_field and '<option value="product.name">' in new_field
    assert 'name="copy_from"' not in page(root, "/design/e/ticket/fields/new?type=lines")
    # an unknown name is the checker's E502, and nothing changes
    status, html = post_form(root, "/design/e/ticket/fields/product", "design-field", filter="activ")
    assert status == 422 and "E502" in html, (status, alert(html))
    assert changes(app) == []
    status, html = post_form(root, "/design/e/ticket/fields/product", "design-field", filter="active")
    assert status == 200 and "design-apply" in html, (status, alert(html))
    apply_preview(root, html)
    status, html = post_form(root, "/design/e/ticket/fields/new?type=string", "design-field", name="product_name",
                             label_en="Product name", label_zh="产品名称", copy_from="product.name", section="1")
    assert status == 200 and "design-apply" in html, (status, alert(html))
    apply_preview(root, html)
    ticket = model(app).entities["ticket"]
    assert ticket.fields["product"].link_filter.source == "active"
    assert ticket.fields["product_name"].copy_from == ("product", "name")
    service = WebState.of(app).service
    engine = Context(actor=SYSTEM)
    customer = service.create("customer", {"name": "Filter Ltd", "level": "high"}, engine)
    price = {"amount": "10", "currency": "CNY"}
    sold = service.create("product", {"sku": "ON-1", "name": "On sale", "list_price": price}, engine)
    retired = service.create("product", {"sku": "OFF-1", "name": "Retired", "list_price": price, "active": False},
                             engine)
    made = service.create("ticket", {"subject": "Noise", "customer": customer["id"], "product": sold["id"]}, engine)
    assert made["product_name"] == "On sale"
    with pytest.raises(ValidationError) as refused:
        service.create("ticket", {"subject": "Old", "customer": customer["id"], "product": retired["id"]}, engine)
    assert "product" in refused.value.errors
