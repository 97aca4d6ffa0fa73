"""The organisation admin pages: only admins, users placed and given roles, departments
added and moved, bad posts refused without changing anything."""

from __future__ import annotations

import sqlalchemy as sa
from webutil import csrf_of, sign_in

from engine.storage import department_heads, departments, user_roles, users


def admin_client(crm_app):
    client = crm_app.test_client()
    assert sign_in(client, "admin", "demo-admin-1").status_code == 302
    return client


def user_row(crm_app, username: str):
    with crm_app.extensions["tailor"].engine.connect() as conn:
        return conn.execute(sa.select(users).where(users.c.username == username)).mappings().one()


def test_only_admins_reach_the_admin_pages(crm_app, client):
    for path in ("/admin/users", "/admin/departments", "/admin/users/1"):
        assert client.get(path).status_code == 403  # alice holds the admin *role*, not the admin flag
    rep = crm_app.test_client()
    sign_in(rep, "wang.lei", "demo-pass-1")
    token = csrf_of(rep.get("/home").get_data(as_text=True))
    assert rep.post("/admin/departments", data={"csrf_token": token, "name": "Hack"}).status_code == 403
    assert "Organisation" not in rep.get("/home").get_data(as_text=True)


def test_admin_places_a_user_and_gives_roles(crm_app):
    admin = admin_client(crm_app)
    html = admin.get("/admin/users").get_data(as_text=True)
    assert "wang.lei" in html and "Sales / East China" in html
    david, zhao = user_row(crm_app, "david.wu"), user_row(crm_app, "zhao.min")
    page = admin.get(f"/admin/users/{david['id']}").get_data(as_text=True)
    with crm_app.extensions["tailor"].engine.connect() as conn:
        sales = conn.execute(sa.select(departments.c.id).where(departments.c.name == "Sales")).scalar()
    response = admin.post(f"/admin/users/{david['id']}", data={
        "csrf_token": csrf_of(page), "display_name": "David Wu", "department_id": str(sales),
        "manager_id": str(zhao["id"]), "roles": ["sales_rep", "marketing"], "teams": "Key accounts; Events",
        "head": "1", "is_active": "1"})
    assert response.status_code == 303
    david = user_row(crm_app, "david.wu")
    assert (david["department_id"], david["manager_id"]) == (sales, zhao["id"])
    with crm_app.extensions["tailor"].engine.connect() as conn:
        roles = sorted(r for (r,) in conn.execute(sa.select(user_roles.c.role).where(user_roles.c.user_id == david["id"])))
        heads = {u for (u,) in conn.execute(sa.select(department_heads.c.user_id)
                                            .where(department_heads.c.department_id == sales))}
    assert roles == ["marketing", "sales_rep"] and david["id"] in heads
    # the new role takes effect at once: david now sees the sales pages
    client = crm_app.test_client()
    sign_in(client, "david.wu", "demo-pass-1")
    assert client.get("/e/opportunity").status_code == 200


def test_bad_user_posts_change_nothing(crm_app):
    admin = admin_client(crm_app)
    wang = user_row(crm_app, "wang.lei")
    zhao = user_row(crm_app, "zhao.min")
    token = csrf_of(admin.get(f"/admin/users/{wang['id']}").get_data(as_text=True))
    base = {"csrf_token": token, "display_name": "王磊", "is_active": "1"}
    for bad, status in (({"roles": ["wizard"]}, 422), ({"department_id": "99999"}, 422), ({"manager_id": "abc"}, 422),
                        ({"display_name": ""}, 422), ({"salary": "1"}, 400)):
        assert admin.post(f"/admin/users/{wang['id']}", data={**base, **bad}).status_code == status, bad
    # zhao manages wang: making wang zhao's manager would be a loop
    token = csrf_of(admin.get(f"/admin/users/{zhao['id']}").get_data(as_text=True))
    loop = admin.post(f"/admin/users/{zhao['id']}", data={"csrf_token": token, "display_name": "赵敏",
                                                          "manager_id": str(wang["id"]), "is_active": "1"})
    assert loop.status_code == 422
    assert user_row(crm_app, "zhao.min") == zhao and user_row(crm_app, "wang.lei") == wang
    me = user_row(crm_app, "admin")
    token = csrf_of(admin.get(f"/admin/users/{me['id']}").get_data(as_text=True))
    assert admin.post(f"/admin/users/{me['id']}", data={"csrf_token": token, "display_name": "A",
                                                        "is_active": "1"}).status_code == 422  # not is_admin
    assert admin.post(f"/admin/users/{wang['id']}", data={**base, "csrf_token": "stale"}).status_code == 400
    assert admin.get("/admin/users/999999").status_code == 404


def test_departments_added_renamed_and_moved(crm_app):
    admin = admin_client(crm_app)
    page = admin.get("/admin/departments").get_data(as_text=True)
    token = csrf_of(page)
    assert admin.post("/admin/departments", data={"csrf_token": token, "name": "Logistics"}).status_code == 303
    with crm_app.extensions["tailor"].engine.connect() as conn:
        ids = dict(conn.execute(sa.select(departments.c.name, departments.c.id)).all())
    assert admin.post("/admin/departments", data={"csrf_token": token, "name": "East China", "id": ids["East China"],
                                                  "parent_id": ids["Logistics"]}).status_code == 303
    assert "Logistics / East China" in admin.get("/admin/departments").get_data(as_text=True)
    # below itself, a name with '/', a duplicate: refused
    assert admin.post("/admin/departments", data={"csrf_token": token, "name": "Logistics", "id": ids["Logistics"],
                                                  "parent_id": ids["East China"]}).status_code == 422
    assert admin.post("/admin/departments", data={"csrf_token": token, "name": "A/B"}).status_code == 422
    assert admin.post("/admin/departments", data={"csrf_token": token, "name": "Logistics"}).status_code == 422
    with crm_app.extensions["tailor"].engine.connect() as conn:
        parent = conn.execute(sa.select(departments.c.parent_id).where(departments.c.id == ids["Logistics"])).scalar()
    assert parent is None
