"""The designer's engine side: admins change the CRM in the browser, and it stays YAML.

The rule: **a designer change is a YAML layer kept in the database.** A change set is a
list of ops over the project's YAML structure (engine/spec/designer.py); the active change
sets fold into one more layer, "designer", merged last over the project's YAML layers by
the same merge rules, validated by the same schemas and checked by the same checker. So
the designer can do nothing YAML could not, every error it shows is the error `tailor
check` would show, and `export_layer` writes it back as a YAML layer folder that compiles
to the same model (the same metadata hash).

Applying is all or nothing: in one transaction (the migration lock held) the metadata
version is checked against the one the admin previewed (another admin may have applied
first), the database is migrated with the same planner as `tailor migrate` (adding a field
is an ADD COLUMN, never a rewrite), the change set is stored, the new metadata version is
recorded and the admin audit log is written. Every web worker and `tailor worker` sees the
new metadata version on its next request or job batch and recompiles (engine/web/state.py).

Removing a field hides it (its column and data stay); dropping the column is a separate,
explicit `drop_column` that must be told how many non-empty values it destroys.
"""

from .service import (
    DesignChange,
    DesignConflict,
    DesignDenied,
    DesignError,
    DesignRefused,
    Preview,
    active_changes,
    apply,
    can_design,
    clear,
    count_nonempty,
    drop_column,
    export_layer,
    export_layer_zip,
    latest_version,
    list_changes,
    load_project_model,
    preview,
    revert,
)

__all__ = [
    "DesignChange",
    "DesignConflict",
    "DesignDenied",
    "DesignError",
    "DesignRefused",
    "Preview",
    "active_changes",
    "apply",
    "can_design",
    "clear",
    "count_nonempty",
    "drop_column",
    "export_layer",
    "export_layer_zip",
    "latest_version",
    "list_changes",
    "load_project_model",
    "preview",
    "revert",
]
