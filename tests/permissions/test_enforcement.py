"""Permissions enforced by the records service: actions, row scopes, field rules, shares,
the department tree, precedence between roles, admins' bypasses (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.permissions.org import department_path, import_org, load_actor, manager_chain
from engine.records import Context, NotFound, PermissionDenied, Query, ValidationError
from engine.storage import audit_log, users, write_engine
from engine.users import create_user

FILES = {
    "entities/account.yaml": """
        entity: account
        fields:
          name: {type: string, required: true}
          region: {type: choice, options: [east, west]}
          credit: {type: money}
          notes: {type: text}
          big: {type: computed, returns: boolean, expression: "credit > 50"}
        list:
          columns: [name, region]
          search: [name, notes]
        """,
    "entities/memo.yaml": """
        entity: memo
        fields:
          title: {type: string}
          account: {type: link, to: account, on_delete: cascade}
        """,
    "roles.yaml": """
        roles:
          rep:
            entities:
              account:
                actions: [read, create, update, export]
                scope: own
                fields: {credit: hidden, region: read}
              memo: {actions: [read, create, update, delete], scope: own}
          manager:
            entities:
              account: {actions: [read, update, delete], scope: department}
          east:
            entities:
              account: {actions: [read], scope: "region == 'east'", fields: {notes: hidden}}
          auditor:
            entities:
              account: {actions: [read, update], scope: all, deny: [update], fields: {credit: deny}}
          teamlead:
            entities:
              account: {actions: [read], scope: team}
        """,
}


@pytest.fixture
def world(service_for):
    """A service, its users (rep1, rep2 in Sales/East, boss heading Sales) and accounts."""
    service = service_for(FILES)
    engine = write_engine(service.engine)
    csv_text = ("username,display_name,department,manager,roles,teams,head\n"
                "boss,Boss,Sales,,manager,,yes\n"
                "rep1,Rep One,Sales/East,boss,rep,alpha,no\n"
                "rep2,Rep Two,Sales/East,boss,rep,alpha,no\n"
                "rep3,Rep Three,Support,,rep,,no\n"
                "eve,Eve,Support,,east,,no\n"
                "aud,Audit,Finance,,auditor;rep,,no\n"
                "lead,Lead,Support,,teamlead,alpha,no\n"
                "nobody,No Roles,Support,,,,no\n")
    with engine.begin() as conn:
        import_org(conn, csv_text, service.model.roles)
        create_user(conn, "root", None, is_admin=True)
    people = {}
    with service.engine.connect() as conn:
        for row in conn.execute(sa.select(users)).mappings():
            people[row["username"]] = Context(actor=load_actor(conn, row))
    ids = {}
    for who, name, region in (("rep1", "A1", "east"), ("rep1", "A2", "west"), ("rep2", "B1", "east"),
                              ("rep3", "C1", "west")):
        record = service.create("account", {"name": name, "region": region, "credit": "100", "notes": "n"},
                                people["root"])
        ids[name] = service.update("account", record["id"], {"owner": people[who].actor.id},
                                   version=record["version"], context=people["root"])["id"]
    return service, people, ids


def names(service, ctx, **query):
    return sorted(r["name"] for r in service.list("account", Query(limit=100, **query), ctx))


def test_own_scope_lists_counts_and_reads_only_own_rows(world):
    service, people, ids = world
    rep1 = people["rep1"]
    assert names(service, rep1) == ["A1", "A2"]
    assert service.count("account", Query(limit=100), rep1) == 2  # a count never reveals hidden rows
    assert service.count("account", Query(limit=100), people["root"]) == 4
    assert names(service, rep1, search="B1") == []  # search does not leak either
    with pytest.raises(NotFound):  # a guessed id answers "not found", never "forbidden"
        service.get("account", ids["B1"], rep1)
    assert service.get("account", ids["A1"], rep1)["name"] == "A1"


def test_department_scope_covers_the_tree_and_follows_a_move(world):
    service, people, ids = world
    assert names(service, people["boss"]) == ["A1", "A2", "B1"]  # Sales and Sales/East below it
    service.get("account", ids["B1"], people["boss"])
    # rep2 moves to Support: their account leaves the boss's department scope
    with write_engine(service.engine).begin() as conn:
        support = department_path(conn, "Support")
        conn.execute(users.update().where(users.c.id == people["rep2"].actor.id).values(department_id=support))
        boss = conn.execute(sa.select(users).where(users.c.username == "boss")).mappings().one()
        moved_boss = Context(actor=load_actor(conn, boss))
    assert names(service, moved_boss) == ["A1", "A2"]
    with pytest.raises(NotFound):
        service.get("account", ids["B1"], moved_boss)


def test_team_and_expression_scopes(world):
    service, people, _ids = world
    assert names(service, people["lead"]) == ["A1", "A2", "B1"]  # alpha: rep1 and rep2
    assert names(service, people["eve"]) == ["A1", "B1"]  # region == 'east', in SQL
    for record in service.list("account", Query(limit=100), people["eve"]):
        assert service.get("account", record["id"], people["eve"])["region"] == "east"  # and in Python


def test_hidden_fields_never_come_back_and_cannot_be_probed(world):
    service, people, ids = world
    rep1 = people["rep1"]
    record = service.get("account", ids["A1"], rep1)
    assert "credit" not in record and "credit_currency" not in record and record["region"] == "east"
    assert all("credit" not in r for r in service.list("account", Query(limit=10), rep1))
    for query in (Query(limit=10, filters=[("credit", "gt", 1)]), Query(limit=10, sort=("credit",)),
                  Query(limit=10, columns=("credit",)), Query(limit=10, where="credit > 1")):
        with pytest.raises(ValidationError):
            service.list("account", query, rep1)
    eve = people["eve"]
    assert names(service, eve, search="n") == []  # notes is hidden for eve: not searched


def test_writes_to_fields_the_user_may_not_edit_are_refused(world):
    service, people, ids = world
    rep1 = people["rep1"]
    record = service.get("account", ids["A1"], rep1)
    with pytest.raises(ValidationError) as info:
        service.update("account", record["id"], {"region": "west"}, version=record["version"], context=rep1)
    assert "region" in info.value.errors
    with pytest.raises(ValidationError) as info:
        service.update("account", record["id"], {"credit": "5"}, version=record["version"], context=rep1)
    assert info.value.errors["credit"] == ["unknown field"]
    # the same value sent back is no change; editable fields save
    saved = service.update("account", record["id"], {"region": "east", "name": "A1 Ltd"}, version=record["version"],
                           context=rep1)
    assert saved["name"] == "A1 Ltd"
    assert service.get("account", ids["A1"], people["root"])["credit"] == 100  # untouched
    with pytest.raises(ValidationError):
        service.create("account", {"name": "N", "region": "west"}, rep1)


def test_actions_and_precedence(world):
    service, people, ids = world
    rep1, aud = people["rep1"], people["aud"]
    with pytest.raises(PermissionDenied):
        service.delete("account", ids["A1"], context=rep1)  # rep may not delete
    service.authorize("account", "export", rep1)
    with pytest.raises(PermissionDenied):
        service.authorize("account", "export", people["boss"])
    # aud holds auditor (all rows, deny update, credit denied) and rep (own rows, update)
    assert names(service, aud) == ["A1", "A2", "B1", "C1"]  # grants combine: all rows
    with pytest.raises(PermissionDenied):  # an explicit deny wins over rep's update
        service.update("account", ids["A1"], {"name": "x"}, version=2, context=aud)
    assert "credit" not in service.get("account", ids["C1"], aud)  # a field deny wins too
    # nobody holds no role: nothing at all
    with pytest.raises(PermissionDenied):
        service.list("account", Query(limit=5), people["nobody"])
    with pytest.raises(NotFound):
        service.get("account", ids["A1"], people["nobody"])
    with pytest.raises(PermissionDenied):
        service.list("memo", Query(limit=5), people["boss"])  # an entity no role lists is out of reach


def test_manager_may_update_rows_of_the_department_not_others(world):
    service, people, ids = world
    boss = people["boss"]
    record = service.get("account", ids["B1"], boss)
    assert service.update("account", record["id"], {"notes": "checked"}, version=record["version"],
                          context=boss)["notes"] == "checked"
    with pytest.raises(NotFound):
        service.update("account", ids["C1"], {"notes": "x"}, version=2, context=boss)


def test_sharing_a_record(world):
    service, people, ids = world
    rep1, rep3 = people["rep1"], people["rep3"]
    with pytest.raises(NotFound):
        service.get("account", ids["A1"], rep3)
    with pytest.raises(PermissionDenied):  # only the owner shares
        service.share("account", ids["A1"], access="read", user_id=rep3.actor.id, context=people["boss"])
    assert rep3.actor.shared_entities == frozenset()  # known when signed in: lists skip the share query
    service.share("account", ids["A1"], access="read", user_id=rep3.actor.id, context=rep1)
    rep3 = reload(service, rep3)  # the next request loads the user again, with the entities shared with them
    assert rep3.actor.shared_entities == {"account"}
    assert service.get("account", ids["A1"], rep3)["name"] == "A1"
    assert "A1" in names(service, rep3) and service.count("account", Query(limit=100), rep3) == 2
    record = service.get("account", ids["A1"], rep3)
    with pytest.raises(PermissionDenied):  # read share: no writing
        service.update("account", record["id"], {"name": "mine"}, version=record["version"], context=rep3)
    service.share("account", ids["A1"], access="write", user_id=rep3.actor.id, context=rep1)
    assert service.update("account", record["id"], {"name": "shared"}, version=record["version"],
                          context=rep3)["name"] == "shared"
    with pytest.raises(ValidationError):
        service.share("account", ids["A1"], access="everything", user_id=rep3.actor.id, context=rep1)


def reload(service, context: Context) -> Context:
    """The user as the next request sees them (roles, teams, shares)."""
    with service.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == context.actor.id)).mappings().one()
        return Context(actor=load_actor(conn, row))


def test_team_shares_reach_every_member(world):
    service, people, ids = world
    with pytest.raises(NotFound):
        service.get("account", ids["C1"], people["rep2"])
    with service.engine.connect() as conn:
        alpha = conn.execute(sa.text("SELECT id FROM tailor_team WHERE name = 'alpha'")).scalar_one()
    service.share("account", ids["C1"], access="read", team_id=alpha, context=people["root"])
    rep2 = reload(service, people["rep2"])
    assert rep2.actor.shared_entities == {"account"}
    assert service.get("account", ids["C1"], rep2)["name"] == "C1"
    assert "C1" in names(service, rep2)
    assert reload(service, people["rep3"]).actor.shared_entities == frozenset()  # not in the team


def test_admin_bypass_is_in_the_audit_log(world):
    service, people, ids = world
    root = people["root"]
    record = service.get("account", ids["C1"], root)
    service.update("account", record["id"], {"name": "C1 fixed"}, version=record["version"], context=root)
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.user_id, audit_log.c.bypass)
                            .where(audit_log.c.entity == "account", audit_log.c.record_id == ids["C1"])
                            .order_by(audit_log.c.id)).all()
    assert rows[-1] == (root.actor.id, True)
    rep1 = people["rep1"]
    own = service.get("account", ids["A2"], rep1)
    service.update("account", own["id"], {"name": "A2 Ltd"}, version=own["version"], context=rep1)
    with service.engine.connect() as conn:
        last = conn.execute(sa.select(audit_log.c.bypass).where(audit_log.c.record_id == ids["A2"])
                            .order_by(audit_log.c.id.desc()).limit(1)).scalar()
    assert last is False


def test_manager_chain_and_org_import_errors(world):
    service, people, _ids = world
    with service.engine.connect() as conn:
        assert manager_chain(conn, people["rep1"].actor.id) == [people["boss"].actor.id]
    bad = ["username,manager\nx1,nobody-here\n", "username,roles\nx2,wizard\n", "username,head\nx3,maybe\n",
           "username,manager\nx4,x5\nx5,x4\n", "name\nx6\n"]
    for text in bad:
        with pytest.raises(ValueError), write_engine(service.engine).begin() as conn:
            import_org(conn, text, service.model.roles)
        with service.engine.connect() as conn:  # one bad row changes nothing
            assert conn.execute(sa.select(sa.func.count()).select_from(users)
                                .where(users.c.username.like("x%"))).scalar() == 0


def test_computed_fields_of_hidden_fields_are_hidden_too(world):
    service, people, ids = world
    assert service.get("account", ids["A1"], people["root"])["big"] is True
    record = service.get("account", ids["A1"], people["rep1"])  # credit is hidden for reps
    assert "big" not in record
    with pytest.raises(ValidationError):
        service.list("account", Query(limit=5, filters=[("big", "eq", True)]), people["rep1"])


def test_a_write_share_does_not_allow_deleting(world):
    service, people, ids = world
    rep1, boss = people["rep1"], people["boss"]
    service.share("account", ids["A1"], access="write", user_id=people["rep3"].actor.id, context=rep1)
    rep3 = reload(service, people["rep3"])
    assert service.get("account", ids["A1"], rep3)  # the share reaches rep3
    with pytest.raises(PermissionDenied):
        service.delete("account", ids["A1"], context=rep3)
    assert service.get("account", ids["A1"], boss)


def test_hidden_values_cannot_be_guessed_through_updates(world):
    service, people, ids = world
    rep1 = people["rep1"]
    record = service.get("account", ids["A1"], rep1)
    for guess in ("100", "7"):  # the right value and a wrong one answer alike
        with pytest.raises(ValidationError) as info:
            service.update("account", record["id"], {"credit": guess}, version=record["version"], context=rep1)
        assert info.value.errors["credit"] == ["unknown field"]


def test_export_reaches_only_the_export_scope(world):
    service, people, ids = world
    with write_engine(service.engine).begin() as conn:
        eve = conn.execute(sa.select(users).where(users.c.username == "eve")).mappings().one()
        from engine.permissions.org import set_roles
        set_roles(conn, eve["id"], ["east", "rep"], service.model.roles)
        eve_ctx = Context(actor=load_actor(conn, eve))
    service.update("account", ids["C1"], {"owner": eve["id"]}, version=2, context=people["root"])
    read = sorted(r["name"] for r in service.list("account", Query(limit=50), eve_ctx))
    exported = sorted(r["name"] for r in service.list("account", Query(limit=50), eve_ctx, action="export"))
    assert read == ["A1", "B1", "C1"] and exported == ["C1"]  # east rows are readable, only own are exportable
    assert service.count("account", Query(limit=50), eve_ctx, action="export") == 1


def test_owners_are_given_only_within_reach(world):
    service, people, ids = world
    rep1, boss, rep3 = people["rep1"], people["boss"], people["rep3"]
    with pytest.raises(ValidationError) as info:
        service.create("account", {"name": "N1", "owner": rep3.actor.id}, rep1)
    assert "owner" in info.value.errors
    assert service.create("account", {"name": "N2", "owner": rep1.actor.id}, rep1)["owner"] == rep1.actor.id
    record = service.get("account", ids["A1"], boss)
    moved = service.update("account", record["id"], {"owner": people["rep2"].actor.id}, version=record["version"],
                           context=boss)  # within the boss's department
    assert moved["owner"] == people["rep2"].actor.id
    with pytest.raises(ValidationError):
        service.update("account", moved["id"], {"owner": rep3.actor.id}, version=moved["version"], context=boss)


def test_links_point_only_to_records_the_user_may_read(world):
    service, people, ids = world
    rep1 = people["rep1"]
    with pytest.raises(ValidationError) as info:
        service.create("memo", {"title": "x", "account": ids["B1"]}, rep1)  # rep2's account
    assert info.value.errors["account"] == [f"account {ids['B1']} does not exist"]  # as if it did not
    memo = service.create("memo", {"title": "ok", "account": ids["A1"]}, rep1)
    assert memo["account"] == ids["A1"]


def test_a_cascade_the_user_may_not_make_is_refused_whole(world):
    service, people, ids = world
    service.create("memo", {"title": "note", "account": ids["A1"]}, people["rep1"])
    with pytest.raises(ValidationError):  # the boss may delete A1, not rep1's memo that would go with it
        service.delete("account", ids["A1"], context=people["boss"])
    assert service.get("account", ids["A1"], people["root"])
    service.delete("account", ids["A1"], context=people["root"])
    assert service.list("memo", Query(limit=5), people["root"]) == []


def test_org_import_leaves_out_columns_alone_and_moves_heads(world):
    service, people, _ids = world
    with write_engine(service.engine).begin() as conn:
        import_org(conn, "username,display_name\nrep1,Rep One renamed\n", service.model.roles)
        rep1 = conn.execute(sa.select(users).where(users.c.username == "rep1")).mappings().one()
        assert rep1["display_name"] == "Rep One renamed"
        assert rep1["department_id"] is not None and rep1["manager_id"] == people["boss"].actor.id
        import_org(conn, "username,department,head\nboss,Support,no\n", service.model.roles)
        from engine.permissions.org import department_heads_of
        sales = department_path(conn, "Sales")
        assert department_heads_of(conn, sales, up=False) == []  # moved away: no longer heads Sales
