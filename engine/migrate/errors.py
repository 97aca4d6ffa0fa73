"""Why a migration did not happen. In every case nothing was applied."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .operations import Operation
    from .plan import MigrationPlan


class MigrationError(Exception):
    """A migration failed and was rolled back; the database is as it was before."""


class DestructiveChangeRefused(MigrationError):
    """The plan would destroy data and allow_destructive was not given.

    `.plan` is the plan that was refused (re-checked inside the migration transaction);
    `.operations` are the refused operations. Nothing was applied.
    """

    def __init__(self, plan: MigrationPlan, operations: list[Operation] | None = None, message: str = ""):
        self.plan = plan
        self.operations = list(plan.destructive_operations if operations is None else operations)
        lines = [message or "The migration would destroy data; nothing was applied. Refused operations:"]
        lines += [f"  - {op.describe()}" for op in self.operations]
        if not message:
            lines.append("Run again with --allow-destructive (allow_destructive=True) to apply them anyway.")
        super().__init__("\n".join(lines))


class MigrationBlocked(DestructiveChangeRefused):
    """Some operations cannot be applied even with allow_destructive (see Operation.blocked)."""

    def __init__(self, plan: MigrationPlan, operations: list[Operation]):
        super().__init__(
            plan,
            operations,
            "Some changes cannot be applied, even with --allow-destructive, until the data is "
            "fixed; nothing was applied:",
        )


class PlanOutdated(MigrationError):
    """The database changed between planning and applying; plan again and review."""


class NothingToWrite(MigrationError, ValueError):
    """`write_revision` was given a plan with nothing to apply (the database is up to date;
    kept tables/columns are only reported). No file was written."""
