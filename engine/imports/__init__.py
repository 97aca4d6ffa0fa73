"""Imports: a company's spreadsheets in, exports out.

The rule: an import is a batch method of the records service (`RecordService.import_rows`)
running the same rules as a form — permissions (scope, hidden and read-only fields),
validation, computed fields, autonumbers, workflow initial states, hooks and audit —
never a side door that writes tables directly. What this package adds is around it:

    reading.py   a file's table (CSV in UTF-8 or GB18030, XLSX), or a clear refusal
    mapping.py   columns to fields (by name and zh/en label), saved as YAML
    convert.py   cells to service input: links by title or unique field, choices by
                 label, dates in the common formats and Excel serials, money with currency
    runs.py      dry run (rolled back), runs in committed batches through the job runner
                 (resumable after kill -9, never twice)
    reverts.py   revert of a run, a job in committed batches with progress (resumable)
    checks.py    the import pages' dry run of a large file, a job with progress
    files.py     failed rows with an error column, exports (CSV/XLSX, streamed, formula-safe)
"""

from .mapping import Mapping, suggest
from .messages import ImportProblem, Problem
from .reading import Sheet, read_file
from .reverts import revert
from .runs import JOB_HANDLERS, Summary, dry_run, run, start, summary_of

__all__ = ["JOB_HANDLERS", "ImportProblem", "Mapping", "Problem", "Sheet", "Summary", "dry_run", "read_file", "revert",
           "run", "start", "suggest", "summary_of"]
