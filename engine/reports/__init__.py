"""Reports from reports/*.yaml: figures about the records of one entity.

The rule, kept by everything here: **every figure is computed in SQL within the viewer's
row scope; hidden fields are never grouped, filtered or summed; money is never added
across currencies.**

The pipeline, as for workflows:
* `checks.py` checks the merged YAML at start-up (E0xx codes, with positions): unknown
  fields, fields that cannot be grouped or summed, buckets on fields that are not dates,
  ratios of unknown measures, charts that do not fit, fields hidden from the roles the
  report is for (refused at check time);
* `definition.py` compiles it into immutable `Report` objects (`CompiledModel.reports`);
* `compute.py` runs one for a viewer (`run(service, name, context, period, extra_filter)`): one
  GROUP BY query through the records service's row scope, refused when the viewer may not
  read the entity or a field it uses is hidden or masked for them; and gives the list
  filter of one row for drill-down (`filter_for`);
* `built.py` checks and compiles a report defined outside the YAML (the report builder)
  with the very same checks (`check_report`, `build_report`);
* `saved.py` keeps the reports users build and save on the builder's page
  (`tailor_saved_report`): who sees and edits them, checked when saved and again when run
  (`report_for(service, saved_id, context)` gives the Report `run` takes).

docs/reports.md is the reference. Dashboards (dashboards/*.yaml) are `dashboards.py`; the pages
are engine/web/pages/reports.py and dashboards.py.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# imported when first asked for: the model imports the definitions while it compiles, and
# run.py imports the records service, which imports the model
_EXPORTS = {
    "Group": "definition", "Measure": "definition", "Report": "definition",
    "Column": "compute", "DrillDown": "compute", "Result": "compute", "Row": "compute", "filter_for": "compute",
    "run": "compute", "ReportNotFound": "compute", "build_report": "built", "check_report": "built",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
