"""The result of planning: what will be applied, what needs the flag, what is kept."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .operations import Operation


@dataclass(eq=False)
class MigrationPlan:
    project: str
    metadata_version: str
    dialect: str
    operations: list[Operation]
    metadata: sa.MetaData = field(repr=False)
    allow_destructive: bool = False  # removed tables/columns planned as drops rather than kept
    drop_only: frozenset[str] | None = None  # with allow_destructive: only these dropped (None: all)
    notes: list[str] = field(default_factory=list)
    table_renames: dict[str, str] = field(default_factory=dict, repr=False)  # old -> new

    @property
    def applying_operations(self) -> list[Operation]:
        return [op for op in self.operations if op.applies]

    @property
    def is_empty(self) -> bool:
        """Nothing to apply (kept tables/columns are reported, not applied)."""
        return not self.applying_operations

    @property
    def destructive_operations(self) -> list[Operation]:
        """Operations refused unless allow_destructive (blocked ones included)."""
        return [op for op in self.applying_operations if op.destructive or op.blocked]

    @property
    def blocked_operations(self) -> list[Operation]:
        """Operations that cannot be applied even with allow_destructive."""
        return [op for op in self.applying_operations if op.blocked]

    @property
    def kept(self) -> list[Operation]:
        return [op for op in self.operations if not op.applies]

    def render(self) -> str:
        """The plan as a person reviews it (`tailor migrate --plan`)."""
        head = f"Migration plan for project '{self.project}' (metadata {self.metadata_version}) on {self.dialect}"
        if self.is_empty and not self.kept and not self.notes:
            return f"{head}: nothing to do, the database matches the model."
        lines = [f"{head}:"]
        safe = [op for op in self.applying_operations if op not in self.destructive_operations]
        refused = [op for op in self.destructive_operations if not op.blocked]
        if safe:
            lines.append(f"  Will be applied ({len(safe)}):")
            lines += [f"    + {op.kind} {op.target}: {op.detail}" for op in safe]
        elif self.is_empty:
            lines.append("  Nothing to apply.")
        if refused:
            lines.append(f"  Destructive, applied only with --allow-destructive ({len(refused)}):")
            for op in refused:
                lines.append(f"    ! {op.kind} {op.target}: {op.detail}")
                lines.append(f"        would destroy: {op.data_loss}")
        if self.blocked_operations:
            lines.append(
                f"  Cannot be applied, even with --allow-destructive, until the data is fixed "
                f"({len(self.blocked_operations)}):"
            )
            for op in self.blocked_operations:
                lines.append(f"    x {op.kind} {op.target}: {op.detail}")
                if op.data_loss:
                    lines.append(f"        found: {op.data_loss}")
                lines.append(f"        {op.blocked}")
        if self.kept:
            lines.append(f"  Kept, not in the model any more ({len(self.kept)}):")
            lines += [f"    = {op.target}: {op.detail}" for op in self.kept]
        if self.notes:
            lines.append("  Notes:")
            lines += [f"    - {note}" for note in self.notes]
        return "\n".join(lines)

    def sql(self, engine: Engine) -> str:
        """The SQL `apply_plan` would run, in order (`tailor migrate --sql`); runs nothing."""
        from .preview import render_sql

        return render_sql(self, engine)

    def __str__(self) -> str:
        return self.render()
