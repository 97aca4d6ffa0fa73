"""Built-in behaviour, registered as a plugin through the same hooks third parties use."""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def tailor_field_types():
    from .fields import BUILTIN_FIELD_TYPES

    return BUILTIN_FIELD_TYPES


@hookimpl
def tailor_expression_functions():
    from .expr.builtins import BUILTIN_FUNCTIONS

    return BUILTIN_FUNCTIONS


@hookimpl
def tailor_approver_resolvers():
    from .workflows.resolvers import BUILTIN_RESOLVERS

    return BUILTIN_RESOLVERS


@hookimpl
def tailor_workflow_actions():
    from .workflows.actions import BUILTIN_ACTIONS

    return BUILTIN_ACTIONS


@hookimpl
def tailor_job_handlers():
    from .backup.schedule import KIND, run_scheduled
    from .imports.checks import JOB_HANDLERS as CHECK_JOBS
    from .imports.reverts import JOB_HANDLERS as REVERT_JOBS
    from .imports.runs import JOB_HANDLERS as IMPORT_JOBS
    from .invitations import JOB_HANDLERS as INVITATION_JOBS
    from .workflows.jobs import JOB_HANDLERS

    return {**JOB_HANDLERS, **INVITATION_JOBS, **IMPORT_JOBS, **REVERT_JOBS, **CHECK_JOBS, KIND: run_scheduled}
