"""How many rows a table holds, for a plan's "rows affected": exact when cheap, estimated
when counting would read a huge table.

`COUNT(*)` reads the whole table (PostgreSQL has no stored row count; SQLite walks the
b-tree), so a preview of "add a field to a 10,000,000-row table" would spend longer counting
than applying. A plan only reports this number (an added column is filled without reading
a row), so beyond `EXACT_UP_TO` the database's own estimate is used instead:
PostgreSQL's `pg_class.reltuples` (kept by ANALYZE and autovacuum), else the highest id;
SQLite's highest rowid (one b-tree descent; deleted rows make it an upper bound). Either
is shown as "about N (estimated)".

Counts that decide whether values are destroyed (`dataloss.py`) are never estimated.
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa
from babel.support import Translations
from sqlalchemy.engine import Connection

EXACT_UP_TO = 200_000  # a COUNT(*) over this many rows takes a few milliseconds on either database
TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "web", "translations")


def N_(text: str) -> str:  # noqa: N802 - the name message extraction looks for
    return text


ESTIMATED = N_("about %(n)s (estimated)")


class RowCount(int):
    """A number of rows (an int, so sums and comparisons work as before) that knows
    whether it is the database's estimate rather than a count."""

    estimated: bool

    def __new__(cls, n: int, estimated: bool = False) -> RowCount:
        count = super().__new__(cls, n)
        count.estimated = estimated
        return count

    @property
    def n(self) -> int:
        return int(self)

    def label(self, language: str = "en") -> str:
        """"1,000" or "about 1,000,000 (estimated)", in the language asked for."""
        if not self.estimated:
            return f"{int(self):,}"
        return _translations(language).ugettext(ESTIMATED) % {"n": f"{int(self):,}"}

    def __repr__(self) -> str:
        return f"RowCount({int(self)}, estimated={self.estimated})"


@lru_cache(maxsize=8)
def _translations(language: str) -> Translations:
    return Translations.load(TRANSLATIONS, [language])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def estimate(conn: Connection, table: str) -> int | None:
    """The database's cheap idea of the row count (no table scan), or None if it has none."""
    if conn.dialect.name == "sqlite":
        try:
            return int(conn.exec_driver_sql(f"SELECT coalesce(max(rowid), 0) FROM {_quoted(table)}").scalar() or 0)
        except sa.exc.DBAPIError:  # a WITHOUT ROWID table: no cheap estimate
            return None
    if conn.dialect.name == "postgresql":
        tuples = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"), {"name": _quoted(table)}
        ).scalar()
        if tuples is not None and tuples >= 0:  # -1: never analysed (PostgreSQL 14+)
            if tuples > 0:
                return int(tuples)
        columns = conn.execute(
            sa.text("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = :t AND column_name = 'id'"), {"t": table}).first()
        if columns is None:
            return None
        return int(conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {_quoted(table)}").scalar() or 0)
    return None


def count_rows(conn: Connection, table: str, *, exact_up_to: int | None = None) -> RowCount:
    """The rows of `table`: counted when the estimate says the table is small (or there is
    no estimate), else that estimate, labelled as one."""
    if exact_up_to is None:
        exact_up_to = EXACT_UP_TO
    guess = estimate(conn, table)
    if guess is not None and guess > exact_up_to:
        return RowCount(guess, estimated=True)
    n = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    return RowCount(int(n))
