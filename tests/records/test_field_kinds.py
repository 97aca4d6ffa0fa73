"""duration, date_or_datetime, person_name and address through the records service (SQLite
and PostgreSQL): input people type, refusals, parts worked out on every write, expressions
giving the same answer in Python and SQL, keyset paging, child rows, and roles hiding
every part."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.expr import compile_expression
from engine.fields.address import address_lines
from engine.fields.duration import format_duration, parse_duration
from engine.fields.person_name import full_name, split_name
from engine.records import Actor, Context, NotFound, Query, ValidationError
from engine.records.query import cursor

FILES = {
    "entities/visit.yaml": """
        entity: visit
        title: who
        fields:
          who: {type: person_name, required: true}
          place: {type: address}
          spent: {type: duration, min: 1 min, max: 12 h}
          planned: {type: duration, unit: hours}
          due: {type: date_or_datetime, min: "2020-01-01", max: "2030-12-31"}
          locked: {type: boolean}
          note: {type: person_name, readonly_when: "locked"}
          quick: {type: computed, returns: boolean, expression: "spent != None and spent <= hours(1)"}
          lines:
            type: lines
            fields:
              task: {type: string}
              took: {type: duration}
        """,
    "roles.yaml": """
        roles:
          guest:
            entities:
              visit: {actions: [read, update], scope: all, fields: {place: hidden, due: hidden, spent: hidden}}
        """,
}


@pytest.fixture
def service(service_for):
    return service_for(FILES)


def create(service, **values):
    return service.create("visit", {"who_last": "Doe", **values})


# -- duration ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, minutes", [
    ("1:30", 90), ("1:30:30", 90.5), ("90", 90), ("90 min", 90), ("1h 30m", 90), ("1h30", 90), ("1.5 h", 90),
    ("2 d", 2880), ("1小时30分", 90), ("45分钟", 45), ("2天3小时", 3060), ("1 hour, 5 minutes", 65),
    ("PT1H30M", 90), ("１：３０", 90), ("0.5", 0.5), (75, 75), ("1 w", 10080),
])
def test_duration_input(text, minutes):
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text, message", [
    ("-1 h", "cannot be negative"), ("soon", "is not a duration"), ("30m 1h", "is not a duration"),
    ("1h 1h", "is not a duration"), ("1:75", "is not a duration"), ("1e9", "is not a duration"),
    ("99999999999999 h", "at most 10,000 days"), ("११", "is not a duration"), ("9" * 500, "is not a duration"),
    (True, "not yes or no"), (float("nan"), "is not a duration"), ({"h": 1}, "expected a duration"),
])
def test_duration_nonsense_is_refused(service, text, message):
    with pytest.raises(ValidationError) as info:
        create(service, spent=text)
    assert message in str(info.value)
    assert service.count("visit") == 0


def test_duration_unit_bounds_and_display(service):
    record = create(service, spent="61s", planned="1.5")
    assert record["planned"] == timedelta(minutes=90)  # a bare number in the field's unit: hours
    assert record["spent"] == timedelta(seconds=61)
    with pytest.raises(ValidationError) as info:
        create(service, spent="30 s")
    assert "must be at least 1 min" in str(info.value)
    with pytest.raises(ValidationError) as info:
        create(service, spent="12:00:01")
    assert "must be at most 12 h" in str(info.value)
    assert format_duration(timedelta(days=1, hours=2, seconds=5)) == "1 d 2 h 5 s"
    assert format_duration(timedelta(hours=1, minutes=30), "zh") == "1小时30分钟"
    assert format_duration(timedelta(0), "zh") == "0分钟"
    changes = service.history("visit", record["id"])[0]["changes"]
    assert changes["spent"] == [None, "PT1M1S"] and changes["planned"] == [None, "PT1H30M"]


# -- date_or_datetime ----------------------------------------------------------------------------
def test_a_day_or_a_moment(service):
    day = create(service, due="2026-12-04")
    assert day["due"] == date(2026, 12, 4) and day["due_time"] is False
    moment = create(service, due="2026-12-04T14:30:00+08:00")
    assert moment["due"] == datetime(2026, 12, 4, 6, 30, tzinfo=UTC) and moment["due_time"] is True
    naive = create(service, due="2026-12-04 14:30")
    assert naive["due"] == datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
    # a record sent back as it was read is accepted; a time flag that contradicts the value is not
    same = service.update("visit", day["id"], {"due": "2026-12-05", "due_time": False}, version=1)
    assert same["due"] == date(2026, 12, 5)
    for bad in ({"due": "2026-12-05", "due_time": True}, {"due_time": False}):
        with pytest.raises(ValidationError) as info:
            service.update("visit", day["id"], bad, version=same["version"])
        assert "follows from 'due'" in str(info.value)
    for bad, message in (("2026-02-30", "is not a date"), ("tomorrow", "is not a date"),
                         ("2019-12-31", "at least 2020-01-01"), ("2031-01-01 00:00", "at most 2030-12-31"),
                         ("0001-01-01T00:00+01:00", "out of range"), (12, "expected a date")):
        with pytest.raises(ValidationError) as info:
            create(service, due=bad)
        assert message in str(info.value), bad
    assert create(service, due="2030-12-31 23:59")["due_time"] is True  # a day bound covers the whole day


def test_days_and_moments_sort_and_page_together(service):
    ids = [create(service, due=value, spent=spent)["id"] for value, spent in (
        ("2026-12-05", "3 h"), ("2026-12-04 09:00", "1 h"), ("2026-12-04", "2 h"), ("2026-12-03 23:00", "4 h"))]
    rows = service.list("visit", Query(sort=("due",), limit=10))
    assert [r["id"] for r in rows] == [ids[3], ids[2], ids[1], ids[0]]
    entity = service.model.entity("visit")
    for sort in (("due",), ("-spent",), ("spent",)):
        query = Query(sort=sort, limit=1)
        seen, after = [], None
        while True:
            page = service.list("visit", Query(sort=sort, limit=1, after=after))
            if not page:
                break
            seen.append(page[0]["id"])
            after = cursor(entity, query, page[0])
        assert seen == [r["id"] for r in service.list("visit", Query(sort=sort, limit=10))], sort
    rows = service.list("visit", Query(filters=[("due", "gte", "2026-12-04"), ("due", "lt", "2026-12-05")],
                                       limit=10))
    assert {r["id"] for r in rows} == {ids[1], ids[2]}
    rows = service.list("visit", Query(filters=[("spent", "in", ["1 h", "120"])], limit=10))
    assert {r["id"] for r in rows} == {ids[1], ids[2]}


# -- person_name ---------------------------------------------------------------------------------
@pytest.mark.parametrize("parts, expected", [
    ({"salutation": "Dr.", "first": "Jane", "middle": "Q.", "last": "Smith", "suffix": "Jr."}, "Dr. Jane Q. Smith Jr."),
    ({"first": "Jane"}, "Jane"),
    ({"first": "伟", "last": "张"}, "张伟"),
    ({"first": "娜娜", "last": "欧阳", "salutation": "女士"}, "欧阳娜娜女士"),
    ({"first": "伟", "last": "张", "salutation": "Dr."}, "Dr. 张伟"),
    ({"first": "Wei", "last": "Zhang"}, "Wei Zhang"),
    ({"first": "太郎", "last": "山田"}, "山田太郎"),
])
def test_full_names_follow_the_script(parts, expected):
    assert full_name(parts) == expected


def test_a_legacy_full_name_is_split_for_forms():
    assert split_name("欧阳娜娜") == {"last": "欧阳", "first": "娜娜"}
    assert split_name("张伟") == {"last": "张", "first": "伟"}
    assert split_name("Jane Q. Smith") == {"first": "Jane", "middle": "Q.", "last": "Smith"}
    assert split_name("Madonna") == {"last": "Madonna"}


def test_the_full_name_is_maintained_on_every_write(service):
    record = service.create("visit", {"who": {"first": "Jane", "last": "Smith"}})
    assert record["who"] == "Jane Smith" and record["who_first"] == "Jane"
    record = service.update("visit", record["id"], {"who_salutation": "Dr."}, version=record["version"])
    assert record["who"] == "Dr. Jane Smith" and record["who_last"] == "Smith"
    record = service.update("visit", record["id"], {"who_last": "  Smith-Jones  "}, version=record["version"])
    assert record["who"] == "Dr. Jane Smith-Jones"
    assert service.list("visit", Query(search="smith-j", limit=5))[0]["id"] == record["id"]
    texts = service.model.entity("visit").fields["who"].type.search_texts(record, service.model.entity("visit")
                                                                          .fields["who"])
    assert texts == ["Dr. Jane Smith-Jones", "Dr.", "Jane", "Smith-Jones"]
    # `required`: a first or a last name
    record = service.update("visit", record["id"], {"who_last": None}, version=record["version"])
    assert record["who"] == "Dr. Jane"
    with pytest.raises(ValidationError) as info:
        service.update("visit", record["id"], {"who_first": ""}, version=record["version"])
    assert "give a first or a last name" in str(info.value)
    with pytest.raises(ValidationError) as info:
        service.update("visit", record["id"], {"who": None}, version=record["version"])
    assert info.value.errors == {"who": ["is required"]}


@pytest.mark.parametrize("data, message", [
    ({"who": "Jane Smith"}, "is worked out from its parts"),
    ({"who": {"first": "Jane", "nick": "JJ"}}, "unknown part(s): nick"),
    ({"who_first": "J" * 81, "who_last": "S"}, "first name: at most 80 characters"),
    ({"who_last": "Smith\nJones"}, "last name: one line only"),
    ({"who_last": "Smith\x07"}, "cannot be stored"),
    ({"who_last": ["Smith"]}, "last name: expected text"),
    ({"who_salutation": "Dr."}, "give a first or a last name"),
    ({}, "is required"),
])
def test_person_name_refusals(service, data, message):
    with pytest.raises(ValidationError) as info:
        service.create("visit", data)
    assert message in str(info.value)
    assert service.count("visit") == 0


def test_readonly_when_covers_the_parts(service):
    record = create(service, note={"first": "Ann", "last": "Lee"}, locked=True)
    with pytest.raises(ValidationError) as info:
        service.update("visit", record["id"], {"note_first": "Bob"}, version=record["version"])
    assert "is read-only now" in str(info.value)
    same = service.update("visit", record["id"], {"note_first": "Ann", "locked": False}, version=record["version"])
    assert service.update("visit", record["id"], {"note_first": "Bob"}, version=same["version"])["note"] == "Bob Lee"


# -- address -------------------------------------------------------------------------------------
def test_addresses_read_in_the_order_of_their_country():
    american = {"street": "1 Main St\nApt 2", "city": "Springfield", "state": "IL", "postal_code": "62701",
                "country": "USA"}
    chinese = {"street": "世纪大道100号", "city": "浦东新区", "state": "上海市", "postal_code": "200120",
               "country": "中国"}
    assert address_lines(american, "en") == address_lines(american, "zh") == [
        "1 Main St", "Apt 2", "Springfield, IL 62701", "USA"]
    assert address_lines(chinese, "en") == ["中国", "上海市浦东新区", "世纪大道100号", "200120"]
    pinyin = {**american, "country": "CN"}
    assert address_lines(pinyin)[0] == "CN"
    bare = {"street": "5 Rue X", "city": "Lyon"}
    assert address_lines(bare, "en") == ["5 Rue X", "Lyon"] and address_lines(bare, "zh") == ["Lyon", "5 Rue X"]


def test_the_one_line_address_and_its_refusals(service):
    record = create(service, place={"street": " 1  Main St \r\n\r\nApt 2 ", "city": "Springfield", "state": "IL",
                                    "postal_code": "62701-1234", "country": "USA"})
    assert record["place"] == "1 Main St, Apt 2, Springfield, IL 62701-1234, USA"
    assert record["place_street"] == "1 Main St\nApt 2"
    record = service.update("visit", record["id"], {"place_country": "中国", "place_state": "上海市",
                                                    "place_city": "浦东新区", "place_street": "世纪大道100号",
                                                    "place_postal_code": "２００１２０"}, version=record["version"])
    assert record["place"] == "中国上海市浦东新区世纪大道100号 200120"
    field = service.model.entity("visit").fields["place"]
    assert field.type.display(record, field, "en") == "中国\n上海市浦东新区\n世纪大道100号\n200120"
    assert set(field.type.search_texts(record, field)) >= {"中国", "上海市", "200120", record["place"]}
    for bad, message in (({"place_postal_code": "12#4"}, "postal code"), ({"place_street": "a\nb\nc\nd\ne"},
                         "at most 4 lines"), ({"place_city": "x" * 81}, "city: at most 80 characters"),
                         ({"place": "Main St 1"}, "is worked out from its parts")):
        with pytest.raises(ValidationError) as info:
            service.update("visit", record["id"], bad, version=record["version"])
        assert message in str(info.value)
    record = service.update("visit", record["id"], {"place": None}, version=record["version"])
    assert record["place"] is None and record["place_city"] is None


# -- expressions: Python and SQL agree -------------------------------------------------------------
EXPRESSIONS = [
    "spent > hours(1)", "spent >= hours(1) and spent < days(1)", "spent == hours(2)", "spent + planned > hours(3)",
    "spent * 2 > planned", "spent is None", "quick",
    "due < datetime('2026-12-04T12:00:00Z')", "date(due) == date('2026-12-04')", "due_time", "not due_time",
    "due + spent > datetime('2026-12-04T10:00:00Z')", "due_time == None",
    "who == 'Jane Smith'", "who_last == 'Smith'", "startswith(who, 'Dr.')", "contains(who, '张')",
    "who_first is None", "lower(who_last) == 'smith'",
    "place_city == 'Springfield'", "place_country in ['中国', 'CN']", "contains(place, 'Main')",
    "place_postal_code != None and len(place_postal_code) == 6",
]


@pytest.fixture
def filled(service):
    for values in (
        {"who": {"first": "Jane", "last": "Smith"}, "spent": "1:30", "planned": "1", "due": "2026-12-04",
         "place": {"street": "1 Main St", "city": "Springfield", "country": "USA"}},
        {"who": {"first": "伟", "last": "张", "salutation": "Dr."}, "spent": "2 h", "planned": "5",
         "due": "2026-12-04T09:00:00Z",
         "place": {"country": "中国", "city": "浦东新区", "postal_code": "200120"}},
        {"who_last": "Smith", "spent": "20 min", "due": "2026-12-06 08:00"},
        {"who_first": "Ann", "planned": "2"},
    ):
        service.create("visit", values)
    return service


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_expressions_agree_in_python_and_sql(filled, source):
    entity = filled.model.entity("visit")
    expression = compile_expression(source, entity.env, expected="boolean")
    rows = filled.list("visit", Query(limit=100))
    in_python = {r["id"] for r in rows if expression.evaluate(r, {}) is True}
    in_sql = {r["id"] for r in filled.list("visit", Query(where=source, limit=100))}
    assert in_python == in_sql, source
    assert 0 < len(in_python) < len(rows) or source in ("spent * 2 > planned", "due_time == None"), source


# -- child rows and roles -------------------------------------------------------------------------
def test_durations_in_child_rows(service):
    record = create(service, lines=[{"task": "call", "took": "15 min"}, {"task": "mail", "took": "1:05"}])
    assert [line["took"] for line in record["lines"]] == [timedelta(minutes=15), timedelta(minutes=65)]
    rows = service.update("visit", record["id"], {"lines": [{"id": record["lines"][0]["id"], "took": "20"}]},
                          version=record["version"])["lines"]
    assert rows == [{"id": record["lines"][0]["id"], "task": "call", "took": timedelta(minutes=20)}]


def test_a_hidden_field_hides_every_part(filled):
    guest = Context(actor=Actor(id=None, username="guest", roles=("guest",)))
    rows = filled.list("visit", Query(limit=10), guest)
    assert rows and all(not any(k.startswith(("place", "due", "spent")) for k in row) for row in rows)
    record = filled.get("visit", rows[0]["id"], guest)
    assert "place_city" not in record and "due_time" not in record and "who_first" in record
    for query in (Query(where="place_city == 'x'", limit=5), Query(where="due_time", limit=5),
                  Query(filters=[("spent", "gt", "1 h")], limit=5), Query(sort=("due",), limit=5)):
        with pytest.raises(ValidationError):
            filled.list("visit", query, guest)
    history = filled.history("visit", rows[0]["id"], guest)
    assert not any(k.startswith(("place", "due", "spent")) for e in history for k in e["changes"])
    with pytest.raises(ValidationError) as info:
        filled.update("visit", rows[0]["id"], {"place_city": "Paris"}, version=rows[0]["version"], context=guest)
    assert info.value.errors == {"place_city": ["unknown field"]}
    with pytest.raises(NotFound):
        filled.get("visit", 999, guest)
