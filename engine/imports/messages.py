"""The words of imports, in zh and en: through the same message catalogue as the pages
(engine/web/translations), so an import refused by the CLI, a page or a job reads alike.

A problem is kept as a message id with its parameters (`Problem`), turned into text only
when shown, in the reader's language: a job's errors are stored once and shown to
whoever looks at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..messages import N_, Message, render, translated, translations

# -- bad files --------------------------------------------------------------------------------
NOT_A_SPREADSHEET = N_("%(name)s is not a spreadsheet: upload a CSV file or an Excel workbook (.xlsx)")
OTHER_KIND = N_("%(name)s is a %(kind)s file, not a spreadsheet: upload a CSV file or an Excel workbook (.xlsx)")
OLD_EXCEL = N_("%(name)s is an old Excel file (.xls): save it as an Excel workbook (.xlsx) or CSV and upload that")
TOO_LARGE = N_("%(name)s is too large: %(size)s MB, at most %(limit)s MB")
ZIP_BOMB = N_("%(name)s unpacks to far more than a spreadsheet of its size holds: refused")
BAD_XLSX = N_("%(name)s cannot be read as an Excel workbook: %(reason)s")
NO_SHEET = N_("%(name)s has no sheet named '%(sheet)s' (sheets: %(sheets)s)")
EMPTY = N_("%(name)s is empty")
HEADER_ONLY = N_("%(name)s has a header row but no data rows")
NO_HEADER = N_("%(name)s has no header row: the first row must name the columns")
DUPLICATE_HEADERS = N_("%(name)s names a column twice: %(headers)s; give every column its own name")
UNKNOWN_ENCODING = N_("%(name)s is neither UTF-8 nor GBK/GB18030 text: save it from Excel as 'CSV UTF-8'")
# -- mapping ----------------------------------------------------------------------------------
UNKNOWN_COLUMN_FIELD = N_("column '%(column)s' is mapped to '%(field)s', which is not a field you may import into")
MAPPED_TWICE = N_("field '%(field)s' is mapped from two columns: %(columns)s")
NO_COLUMNS = N_("no column of the file matches a field of %(entity)s")
NO_KEY_COLUMN = N_("the key '%(key)s' is not among the mapped columns")
BAD_KEY = N_("'%(key)s' cannot be the key: use id or a unique field (%(unique)s)")
KEY_NEEDED = N_("the %(mode)s mode matches rows to records by a key: choose one of %(keys)s "
                "(mapped from this file: %(mapped)s)")
BAD_MODE = N_("the mode must be insert, update or upsert")
NO_GROUP_COLUMN = N_("the column '%(column)s' that joins the rows of one record is not in the file")
BAD_MAPPING_FILE = N_("the mapping file cannot be read: %(reason)s")
# -- rows -------------------------------------------------------------------------------------
NO_MATCH = N_("no %(entity)s matches '%(value)s'")
AMBIGUOUS = N_("%(count)s %(entity)s records match '%(value)s': use a unique value")
NO_USER = N_("no user matches '%(value)s'")
NOT_AN_OPTION = N_("'%(value)s' is not one of the options (%(options)s)")
NOT_A_DATE = N_("'%(value)s' is not a date (2026-12-04, 2026/12/4, 04.12.2026)")
NOT_A_MOMENT = N_("'%(value)s' is not a date and time (2026-12-04 09:30)")
NOT_FOUND_BY_KEY = N_("no record has %(key)s '%(value)s' to update")
KEY_MISSING = N_("the key column '%(key)s' is empty")
SAME_KEY = N_("row %(row)s already has %(key)s '%(value)s'")
LINE_DIFFERS = N_("a line of the record begun in row %(row)s, but '%(value)s' differs from that row's: "
                  "leave it empty or repeat the same value")
NOT_ALLOWED = N_("you may not import into %(entity)s")
# -- runs and revert --------------------------------------------------------------------------
NO_RUN = N_("import #%(run)s does not exist")
NOT_FINISHED = N_("import #%(run)s has not finished: it can be reverted once it has")
ALREADY_REVERTED = N_("import #%(run)s was already reverted")
CHANGED_SINCE = N_("import #%(run)s cannot be reverted: %(count)s of its records were changed since (%(records)s)")
REVERTING = N_("import #%(run)s is being reverted: wait for the revert to finish")
REVERT_STOPPED = N_("the revert of import #%(run)s did not finish: %(reason)s")
LEFT_AS_THEY_ARE = N_("%(count)s records were left as they are (changed while the revert ran, or refused): %(records)s")


@dataclass
class Problem:
    """A message id and its parameters; `text(language)` says it."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        if language == "en":
            return self.message % self.params
        gettext = translations(language).ugettext
        return render(self.message, {k: translated(v, gettext, language) for k, v in self.params.items()}, gettext)

    @classmethod
    def of(cls, text: str) -> Problem:
        """An engine message (engine/messages.py) as a problem: its id and parameters when it
        has them, so it is shown translated; plain text as it was said."""
        if isinstance(text, Message):
            return cls(text.msgid, dict(text.params))
        return cls("%(text)s", {"text": text})

    def __str__(self) -> str:
        return self.text("en")


class ImportProblem(Exception):
    """A whole import is refused (a bad file, a bad mapping): nothing changed."""

    def __init__(self, message: str, **params: Any):
        self.problem = Problem(message, params)
        super().__init__(self.problem.text("en"))

    def text(self, language: str = "en") -> str:
        return self.problem.text(language)
