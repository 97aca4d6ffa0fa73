"""Cell conversion: dates and times in the common formats and Excel serials, money with a
currency sign or code, options by value or label."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from importutil import FILES

from engine.imports import convert
from engine.imports.convert import _date, _moment, _money, _option, _Refused


@pytest.mark.parametrize("cell", ["2026-12-04", "2026/12/4", "2026.12.04", "04.12.2026", "4/12/2026",
                                  "2026年12月4日", 46360, 46360.0, "46360", datetime(2026, 12, 4, 8, 0)])
def test_dates(cell):
    assert _date(cell) == date(2026, 12, 4)


@pytest.mark.parametrize("cell", ["2026-13-01", "31.02.2026", "tomorrow", 0, -3, "12/2026"])
def test_not_dates(cell):
    with pytest.raises(_Refused) as refused:
        _date(cell)
    assert "is not a date" in refused.value.problem.text()


def test_moments():
    assert _moment("2026-12-04 09:30") == datetime(2026, 12, 4, 9, 30)
    assert _moment("2026/12/4 9:05:07") == datetime(2026, 12, 4, 9, 5, 7)
    assert _moment("04.12.2026") == datetime(2026, 12, 4)
    assert _moment(46360.5) == datetime(2026, 12, 4, 12, 0)
    assert _moment("2026-12-04T09:30:00+08:00").utcoffset().total_seconds() == 8 * 3600
    with pytest.raises(_Refused):
        _moment("2026-12-04 25:00")


def test_money_and_options(build_model):
    entity = build_model(FILES).entity("customer")
    revenue = entity.fields["revenue"]
    assert _money(revenue, "¥1,234.50") == {"revenue": "1,234.50", "revenue_currency": "CNY"}
    assert _money(revenue, "1234.50 usd") == {"revenue": "1234.50", "revenue_currency": "USD"}
    assert _money(revenue, "USD 12") == {"revenue": "12", "revenue_currency": "USD"}
    assert _money(revenue, "12元") == {"revenue": "12", "revenue_currency": "CNY"}
    assert _money(revenue, "1,000") == {"revenue": "1,000"}  # the field's currency, as a form
    assert _money(revenue, 99.5) == {"revenue": "99.5"}
    level = entity.fields["level"]
    assert [_option(level, v) for v in ("high", "High", " 高 ", "LOW")] == ["high", "high", "high", "low"]
    with pytest.raises(convert._Refused) as refused:
        _option(level, "huge", "zh")
    said = refused.value.problem.text("zh")
    assert "huge" in said and "高, 低" in said and "options" not in said  # in Chinese, the options as read
    assert refused.value.problem.params == {"value": "huge", "options": "高, 低"}
    assert convert.excel_date(61).date() == date(1900, 3, 1)  # Excel's own count (after its 1900-02-29)
