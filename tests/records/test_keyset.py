"""Keyset paging (`Query.after`): walking every page yields every row exactly once, in the
order of one big ordered query, whatever the direction, duplicates and NULLs."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from engine.records import Query, ValidationError
from engine.records.query import build_select, cursor

PROJECT = {
    "entities/item.yaml": """
        entity: item
        title: name
        fields:
          name:  {type: string, required: true}
          n:     {type: integer}
          price: {type: decimal, scale: 2}
          day:   {type: date}
          at:    {type: datetime}
          kind:  {type: choice, options: [a, b, c]}
          flag:  {type: boolean}
          note:  {type: text}
        list:
          columns: [name, n, price]
          filters: [kind, n]
          sort: [-day]
        """,
}
ROWS = 157
PAGE = 7
SORTS = [
    ("n",), ("-n",), ("price",), ("-price",), ("day",), ("-day",), ("at",), ("-at",), ("kind",), ("-kind",),
    ("flag",), ("-flag",), ("name",), ("-name",), ("kind", "-n"), ("-kind", "price", "-day"), ("id",), ("-id",),
    ("-created_at",), ("n", "id"), ("-flag", "kind", "at"),
]


def maybe(rng: random.Random, value, nulls: float = 0.3):
    return None if rng.random() < nulls else value


@pytest.fixture
def service(service_for):
    service = service_for(PROJECT)
    rng = random.Random(20240229)
    start = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    with service.transaction():
        for _ in range(ROWS):
            service.create("item", {
                # few distinct values: many duplicates, so the id tie-breaker matters
                "name": rng.choice(["Ann", "Bob", "Cem", "Dai", "王", "ann"]),
                "n": maybe(rng, rng.randint(-3, 3)),
                "price": maybe(rng, Decimal(rng.randint(-500, 500)) / 100),
                "day": maybe(rng, date(2024, 1, 1) + timedelta(days=rng.randint(0, 5))),
                "at": maybe(rng, start + timedelta(minutes=rng.randint(0, 4), microseconds=rng.choice([0, 1, 999]))),
                "kind": maybe(rng, rng.choice("abc")),
                "flag": maybe(rng, rng.random() < 0.5),
            })
    return service


def walk(service, query: Query, token: bool = True) -> list[int]:
    """Every page with keyset paging; the cursor as a URL token, or as a tuple of values."""
    entity = service.model.entity("item")
    seen, after, pages = [], None, 0
    while True:
        rows = service.list("item", replace(query, limit=PAGE, after=after))
        pages += 1
        assert pages <= ROWS + 2, "paging does not end"
        assert len(rows) <= PAGE
        seen += [r["id"] for r in rows]
        if len(rows) < PAGE:
            return seen
        last = rows[-1]
        if token:
            after = cursor(entity, query, last)
        else:
            from engine.records.query import order_keys

            after = tuple(last[name] for name, _desc in order_keys(entity, query))


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: ",".join(s))
def test_walking_all_pages_gives_every_row_once_in_order(service, sort):
    query = Query(sort=sort, columns=("name",))  # the sort columns are selected for the cursor
    expected = [r["id"] for r in service.list("item", Query(sort=sort, limit=1000))]
    assert len(expected) == ROWS
    walked = walk(service, query)
    assert len(walked) == len(set(walked))  # no row twice
    assert walked == expected  # every row, in the same order
    assert walk(service, query, token=False) == expected


def test_keyset_with_filters_and_search(service):
    for query in (Query(filters=[("kind", "in", "a,b")], sort=("-n",)),
                  Query(filters=[("n", "gte", -1)], sort=("at", "-price")),
                  Query(search="an", sort=("day",))):
        expected = [r["id"] for r in service.list("item", replace(query, limit=1000))]
        assert expected and len(expected) < ROWS
        assert walk(service, query) == expected


def test_default_sort_and_no_sort(service):
    expected = [r["id"] for r in service.list("item", Query(limit=1000))]  # list.sort: -day, then -id
    assert walk(service, Query()) == expected
    assert walk(service, Query(sort=())) == sorted(expected)  # no order: by id for paging


def test_rows_added_and_deleted_while_paging(service):
    """A cursor is a position, not a row: the next page still starts after it."""
    first = service.list("item", Query(sort=("n",), limit=PAGE))
    entity = service.model.entity("item")
    token = cursor(entity, Query(sort=("n",)), first[-1])
    service.delete("item", first[-1]["id"])
    rest = service.list("item", Query(sort=("n",), limit=1000, after=token))
    expected = [r["id"] for r in service.list("item", Query(sort=("n",), limit=1000))][PAGE - 1:]
    assert [r["id"] for r in rest] == expected


def test_count_ignores_the_cursor(service):
    entity = service.model.entity("item")
    rows = service.list("item", Query(sort=("name",), limit=10))
    token = cursor(entity, Query(sort=("name",)), rows[-1])
    assert service.count("item", Query(sort=("name",), after=token)) == ROWS


@pytest.mark.parametrize("after", [
    "not-base64!!", "e30", "W10", "x" * 5000, 12,
    ("only-one-value",), ("abc", 1), (1, "x"), (1, 2**70), (1, None), (1, True),
])
def test_bad_cursors_are_validation_errors(service, after):
    with pytest.raises(ValidationError) as info:
        service.list("item", Query(sort=("n",), limit=5, after=after))
    assert "after" in info.value.errors


def test_a_cursor_of_another_sort_is_refused(service):
    entity = service.model.entity("item")
    row = service.list("item", Query(sort=("n",), limit=1))[0]
    token = cursor(entity, Query(sort=("n",)), row)
    with pytest.raises(ValidationError) as info:
        service.list("item", Query(sort=("-n",), limit=5, after=token))
    assert info.value.errors["after"] == ["belongs to another sort order"]
    with pytest.raises(ValidationError):
        service.list("item", Query(sort=("note",), limit=5, after=token))  # text: not sortable


@pytest.mark.parametrize("sort", ["day", "-day"])
def test_each_page_is_index_ranges_not_a_scan_from_the_start(service, sort):
    """Whatever the direction and the database's NULL placement, the rows after a cursor
    are read as index ranges on (day, id) that start at the cursor: `day >= v` (or `<=`)
    and `day IS NULL AND id > n`, never `day > v OR day IS NULL`, which would make every
    page scan the rows before it."""
    entity = service.model.entity("item")
    dialect = service.engine.dialect

    def sql(after):
        statement = build_select(entity, Query(sort=(sort,), after=after, limit=10), None)
        return " ".join(str(statement.compile(dialect=dialect)).split())

    text = sql(("2024-01-03", 5))
    assert ("item.day <= " if sort.startswith("-") else "item.day >= ") in text
    assert "OR item.day IS NULL" not in text and "item.day IS NULL OR" not in text
    assert "UNION ALL" in text and "item.day IS NULL AND" in text
    text = sql((None, 5))
    assert re.search(r"item\.day IS NULL AND \(?item\.id [<>] ", text)
    # the NULL-free first column of a sort on id needs no second range
    text = " ".join(str(build_select(entity, Query(sort=("-id",), after=(5,), limit=10), None)
                        .compile(dialect=dialect)).split())
    assert "UNION" not in text and "item.id < " in text
