"""The hooks plugins implement. Built-in behaviour uses the same hooks (`engine.defaults`).

Every hook is documented in docs/plugins.md; a test fails when one is not.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("tailor")
hookimpl = pluggy.HookimplMarker("tailor")


@hookspec
def tailor_field_types():
    """Return a list of `engine.fields.FieldType` instances to make their types available in YAML."""


@hookspec
def tailor_expression_functions():
    """Return a list of `engine.expr.Function` to add functions to the expression language."""


@hookspec
def tailor_validators():
    """Return {name: callable(value, field) -> str | None}; fields use them as `validators: [name]`.
    The callable returns an error message, or None when the value is valid."""


@hookspec
def tailor_actions():
    """Return names of actions roles may grant besides read, create, update, delete, export
    and import (for example `approve`)."""


@hookspec
def tailor_approver_resolvers():
    """Return a list of `engine.workflows.Resolver`: ways approval flows find approvers
    (`approvers: [{NAME: main argument, other: arguments}]`)."""


@hookspec
def tailor_workflow_actions():
    """Return a list of `engine.workflows.WorkflowAction`: actions transitions, flow events
    and approval nodes may run (`actions: [{NAME: arguments}]`)."""


@hookspec
def tailor_job_handlers():
    """Return {kind: callable(app_state, payload)}: background jobs the job runner may run
    (`engine.jobs.schedule(conn, kind, key, run_at, payload)` queues one)."""


@hookspec
def tailor_check_project(spec, problems):
    """Add project-specific checks at start-up: call `problems.add(code, message, position, hint)`."""


@hookspec
def tailor_model_compiled(model):
    """Called once with the immutable compiled model, e.g. to build caches a plugin needs."""


@hookspec
def tailor_before_save(entity, record, old, context):
    """Before a create (`old` is None) or an update is written. May change `record` (a dict of
    field values) or raise `engine.records.ValidationError` to refuse the change."""


@hookspec
def tailor_after_save(entity, record, old, context):
    """After a create or update, inside the same transaction (raise to roll it back)."""


@hookspec
def tailor_before_delete(entity, record, context):
    """Before a record is deleted; raise `engine.records.ValidationError` to refuse."""


@hookspec
def tailor_after_delete(entity, record, context):
    """After a record is deleted, inside the same transaction."""


@hookspec
def tailor_migration_step(operation):
    """Called before each schema operation `tailor migrate` applies (all inside one transaction)."""


@hookspec
def tailor_cli_commands(cli):
    """Add commands to the `tailor` command line: `cli` is the click group."""


@hookspec
def tailor_template_folders():
    """Return folders of Jinja templates that override or extend the built-in ones."""


@hookspec
def tailor_blueprints():
    """Return Flask blueprints to register on the web app."""
