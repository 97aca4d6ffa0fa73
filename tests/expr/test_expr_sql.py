"""SQL translation: parameters, index-friendly shapes, dialect details, limits."""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal

import pytest
import sqlalchemy as sa
from expr_helpers import NOW, USER, columns_of, insert_rows, make_table, python_ids, sql_ids, sql_values
from sqlalchemy.dialects import postgresql, sqlite

from engine.expr import Env, NotSQLExpressible, compile_expression
from engine.expr.parser import MAX_DEPTH

UTC = dt.UTC
TABLE = make_table(sa.MetaData())
COLUMNS = columns_of(TABLE)
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def sql_text(env, source: str, dialect: str, variables=None, **kwargs) -> str:
    expression = compile_expression(source, env)
    compiled = expression.to_sql(COLUMNS, variables or {"user": USER}, NOW, **kwargs).compile(
        dialect=DIALECTS[dialect]
    )
    return " ".join(str(compiled).split())


@pytest.mark.parametrize("dialect", DIALECTS)
def test_values_are_bound_parameters_never_sql_text(env, dialect):
    evil = "x'); DROP TABLE expr_items; --"
    expression = compile_expression("s == user.region or 'a' in tags", env)
    compiled = expression.to_sql(COLUMNS, {"user": {**USER, "region": evil}}, NOW).compile(dialect=DIALECTS[dialect])
    assert "DROP" not in str(compiled)
    assert evil in compiled.params.values()


def test_hostile_values_round_trip_through_a_real_database(db_engine, items, env):
    evil = "x'); DROP TABLE expr_items; --"
    insert_rows(db_engine, items, [{"s": evil}, {"s": "other"}])
    expression = compile_expression("s == user.region", env)
    assert sql_ids(db_engine, items, expression, {"user": {**USER, "region": evil}}) == {1}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "source, expected",
    [
        ("n > 100000", "expr_items.n > "),
        ("s == 'x'", "expr_items.s = "),
        ("'x' == s", "= expr_items.s"),
        ("i == user.id", "expr_items.i = "),
        ("d < today() - days(30)", "expr_items.d < "),  # the constant side is computed in Python
        ("dt >= now() - hours(1)", "expr_items.dt >= "),
        ("s in ['a', 'b']", "expr_items.s IN ("),
        ("i in user.team_members", "expr_items.i IN ("),
        ("d == None", "expr_items.d IS NULL"),
        ("d != None", "expr_items.d IS NOT NULL"),
    ],
)
def test_positive_comparisons_stay_plain_for_indexes(env, dialect, source, expected):
    text = sql_text(env, source, dialect)
    assert expected in text, text
    assert "coalesce" not in text and "DISTINCT" not in text and "CAST" not in text, text


def test_integer_columns_are_compared_with_integer_parameters(env):
    """PostgreSQL would cast an integer column to numeric (and skip its index) for a numeric param."""
    expression = compile_expression("i == user.id and i in user.team_members", env)
    compiled = expression.to_sql(COLUMNS, {"user": USER}, NOW).compile(
        dialect=DIALECTS["postgresql"], compile_kwargs={"render_postcompile": True}
    )
    assert all(type(v) is int for v in compiled.params.values()), compiled.params
    assert "::NUMERIC" not in str(compiled)


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("not n > 1", "coalesce"),
        ("s not in ['a']", "coalesce"),
        ("s == t", "IS NOT DISTINCT FROM"),
        ("s != t", "IS DISTINCT FROM"),
        ("s != 'a'", "IS DISTINCT FROM"),  # NULL != 'a' is true
        ("s < 'a'", 'COLLATE "C"'),
    ],
)
def test_null_safe_forms_where_needed(env, source, fragment):
    assert fragment in sql_text(env, source, "postgresql")


def test_boolean_values_never_come_back_null(db_engine, items, env):
    insert_rows(db_engine, items, [{"n": None}, {"n": 5}])
    expression = compile_expression("n > 1", env)
    assert sql_values(db_engine, items, expression) == {1: False, 2: True}
    with db_engine.connect() as conn:
        raw = dict(conn.execute(sa.select(items.c.id, expression.to_sql(columns_of(items)))).all())
    assert raw[1] is None  # the WHERE form may be NULL; as_value=True is for selecting


def test_lists_from_variables_and_empty_lists(db_engine, items, env):
    insert_rows(db_engine, items, [{"i": 7}, {"i": 1}, {"i": None}])
    inside = compile_expression("i in user.team_members", env)
    outside = compile_expression("i not in user.team_members", env)
    assert sql_ids(db_engine, items, inside, {"user": USER}) == {1}
    assert sql_ids(db_engine, items, outside, {"user": USER}) == {2, 3}
    empty = {"user": {**USER, "team_members": []}}
    assert sql_ids(db_engine, items, inside, empty) == set()
    assert sql_ids(db_engine, items, outside, empty) == {1, 2, 3}
    mixed = {"user": {**USER, "team_members": ["7", 7.0, None, True]}}  # only numbers can equal a number
    assert sql_ids(db_engine, items, inside, mixed) == python_ids(inside, [{"i": 7}, {"i": 1}, {}], mixed) == {1}


def test_tags_stored_as_json_null_or_missing(db_engine, items, env):
    rows = [{"tags": None}, {"tags": []}, {"tags": ["vip"]}]
    insert_rows(db_engine, items, rows)
    for source in ["tags == None", "tags != None", "'vip' in tags", "'vip' not in tags", "is_empty(tags)", "len(tags) == 0"]:
        expression = compile_expression(source, env)
        assert sql_ids(db_engine, items, expression) == python_ids(expression, rows), source
    with db_engine.begin() as conn:  # a real SQL NULL, as sa.JSON(none_as_null=True) would store
        conn.execute(sa.update(items).where(items.c.id == 1).values(tags=sa.null()))
    expression = compile_expression("tags == None", env)
    assert sql_ids(db_engine, items, expression) == {1}


def test_microseconds_survive_comparisons_and_arithmetic(db_engine, items, env):
    t = dt.datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    rows = [{"dt": t, "du": t - dt.timedelta(microseconds=1)}, {"dt": t, "du": t}]
    insert_rows(db_engine, items, rows)
    for source, want in [
        ("dt > du", {1}),
        ("dt - du > days(0)", {1}),
        ("dt - du < days(0.00000001)", {1, 2}),  # 864 microseconds
        ("du + (dt - du) == dt", {1, 2}),
        ("date(dt) == date('2024-12-31')", {1, 2}),
        ("year(dt + days(0.00000001)) == 2025", {1, 2}),
        ("year(du + days(0.0000000000116)) == 2025", {2}),  # plus one microsecond
    ]:
        expression = compile_expression(source, env)
        assert python_ids(expression, rows) == want, source
        assert sql_ids(db_engine, items, expression) == want, source


def test_results_do_not_depend_on_the_session_time_zone(db_engine, items, env):
    if db_engine.dialect.name == "postgresql":
        with db_engine.connect() as conn:
            assert conn.execute(sa.text("SHOW TIME ZONE")).scalar() == "Pacific/Kiritimati"
    t = dt.datetime(2024, 12, 31, 22, 0, tzinfo=UTC)
    insert_rows(db_engine, items, [{"dt": t, "d": dt.date(2024, 12, 31)}])
    for source, want in [("year(dt)", 2024), ("month(dt)", 12), ("date(dt)", dt.date(2024, 12, 31))]:
        assert sql_values(db_engine, items, compile_expression(source, env))[1] == want, source
    assert sql_values(db_engine, items, compile_expression("dt + hours(3)", env))[1] == t + dt.timedelta(hours=3)


def test_string_order_is_code_point_order_whatever_the_collation(db_engine, env):
    """PostgreSQL columns often use a linguistic collation ('a' < 'B'); expressions compare
    by code point ('B' < 'a'), as SQLite and Python do."""
    collation = None
    if db_engine.dialect.name == "postgresql":
        with db_engine.connect() as conn:
            collation = conn.execute(
                sa.text("SELECT collname FROM pg_collation WHERE collname IN ('en-US-x-icu', 'en_US.utf8') LIMIT 1")
            ).scalar()
        if collation is None:
            pytest.skip("no linguistic collation installed")
    metadata = sa.MetaData()
    table = sa.Table("collated", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("s", sa.String(10, collation=collation)))
    metadata.create_all(db_engine)
    with db_engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "s": "B"}, {"id": 2, "s": "a"}, {"id": 3, "s": "é"}])
        if collation:  # the column really orders linguistically
            assert conn.execute(sa.select(table.c.s).order_by(table.c.s)).scalars().all() == ["a", "B", "é"]
    expression = compile_expression("s < 'a'", Env({"s": "string"}))
    with db_engine.connect() as conn:
        ids = set(conn.execute(sa.select(table.c.id).where(expression.to_sql({"s": table.c.s}))).scalars())
    assert ids == {1} == {i for i, s in [(1, "B"), (2, "a"), (3, "é")] if expression.evaluate({"s": s})}


def test_not_sql_expressible_parts():
    env = Env({"n": "number", "lines": {"qty": "number"}})
    for source in ["sum(lines.qty) > n", "n in lines.qty", "count(lines) > 0"]:
        expression = compile_expression(source, env)
        assert expression.sql_supported is False
        with pytest.raises(NotSQLExpressible):
            expression.to_sql({"n": sa.column("n"), "lines": sa.column("lines")})
    listed = compile_expression("[n, 1]", env)
    assert listed.sql_supported is False
    with pytest.raises(NotSQLExpressible):
        listed.to_sql({"n": sa.column("n")})
    assert compile_expression("n in [n, 1]", env).sql_supported is True


def test_missing_columns_are_reported():
    expression = compile_expression("n > 1", Env({"n": "number"}))
    with pytest.raises(KeyError, match="no column for field 'n'"):
        expression.to_sql({})


def test_constant_expressions_become_literals():
    env = Env({"n": "number"}, {"user": {"roles": "list"}})
    expression = compile_expression("'admin' in user.roles", env)
    assert str(expression.to_sql({}, {"user": {"roles": ["admin"]}}).compile(dialect=DIALECTS["postgresql"])) == "true"
    assert str(expression.to_sql({}, {"user": {"roles": []}}).compile(dialect=DIALECTS["postgresql"])) == "false"


def test_nested_datetime_arithmetic_stays_linear_in_size(env):
    def size(k: int) -> int:
        return len(sql_text(env, "dt" + " + hours(1)" * k + " > du", "sqlite"))

    assert size(8) - size(4) == size(12) - size(8)


def test_deep_expressions_translate_without_recursion_errors(env):
    depth = MAX_DEPTH // 2 - 2
    source = "abs(" * depth + "n" + ")" * depth + " + 1 > 0"
    for dialect in DIALECTS:
        assert sql_text(env, source, dialect).count("abs(") == depth


def test_queries_are_cacheable(db_engine, items, env):
    expression = compile_expression("dt + hours(i) > du and date(dt) - d > days(1) and 'vip' in tags and s < t", env)
    insert_rows(db_engine, items, [{}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", sa.exc.SAWarning)
        sql_ids(db_engine, items, expression)
        sql_ids(db_engine, items, expression)


def test_durations_come_back_as_timedelta_and_numbers_as_decimal(db_engine, items, env):
    insert_rows(db_engine, items, [{"d": dt.date(2024, 1, 1), "e": dt.date(2024, 1, 31), "n": Decimal("0.1")}])
    values = {
        source: sql_values(db_engine, items, compile_expression(source, env))[1]
        for source in ["e - d", "n * 3", "n / 3"]
    }
    assert values == {"e - d": dt.timedelta(days=30), "n * 3": Decimal("0.3"), "n / 3": Decimal("0.0333333333")}
    assert type(values["n * 3"]) is Decimal
