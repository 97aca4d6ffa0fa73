"""Migrations that lose nothing: model + live database -> a reviewed, all-or-nothing plan.

    plan = plan_migration(engine, metadata, project="crm", metadata_version=version)
    print(plan.render())              # tailor migrate --plan
    print(plan.sql(engine))           # tailor migrate --sql
    write_revision(plan, "revisions", "add phone")   # tailor migrate --write-revision DIR
                                                  # (NothingToWrite if the plan is empty)
    apply_plan(engine, plan, allow_destructive=False)

See docs/migrations.md. The engine's own tables are migrated by Alembic revisions in
`migrations/` (`upgrade_system_tables`).
"""

from .apply import apply_plan
from .errors import (
    DestructiveChangeRefused,
    MigrationBlocked,
    MigrationError,
    NothingToWrite,
    PlanOutdated,
)
from .operations import Operation
from .plan import MigrationPlan
from .planner import plan_migration
from .revision import write_revision
from .system import upgrade_system_tables

__all__ = [
    "DestructiveChangeRefused",
    "MigrationBlocked",
    "MigrationError",
    "MigrationPlan",
    "NothingToWrite",
    "Operation",
    "PlanOutdated",
    "apply_plan",
    "plan_migration",
    "upgrade_system_tables",
    "write_revision",
]
