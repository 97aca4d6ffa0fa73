"""Shared fixtures.

`db_url` runs a test on SQLite always and on PostgreSQL too when
TAILOR_TEST_DATABASE_URL is set (CI sets it). Each PostgreSQL test gets a database of its
own, dropped afterwards; one the test asks to have migrated while still untouched becomes a
copy of a database migrated once per process (see dbcopies.py).
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from engine.storage import make_engine

PG_URL = os.environ.get("TAILOR_TEST_DATABASE_URL")

# examples/crm encrypts contacts' mobile numbers, so every test process needs a key. One fixed
# key for the whole suite (not a secret: it protects nothing but test data), the same in each
# xdist worker and in the processes tests start, unless the environment already configures one.
if not os.environ.get("TAILOR_ENCRYPTION_KEY") and not os.environ.get("TAILOR_ENCRYPTION_KEY_FILE"):
    os.environ["TAILOR_ENCRYPTION_KEY"] = base64.b64encode(hashlib.sha256(b"tailor test suite").digest()).decode()
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Password hashes: scrypt at n=128 (the least werkzeug's memory bound allows) instead of
# production's n=2**15: a hash or a sign-in took 0.1-1 s on a busy two-core machine, and the suite
# makes thousands. Same scheme, same salting, the cost written in each hash as always, so checking,
# the dummy hash for unknown usernames and the "same cost either way" tests are unchanged.
# Production's cost is checked in a fresh process (tests/test_password_cost.py); processes the
# tests start (the CLI) keep the real cost.
import engine.users as _users  # noqa: E402

_users.PASSWORD_HASH_METHOD = "scrypt:128:8:1"

# Each project is compiled once per test process: see modelmemo.py (and test_model_memo.py).
import modelmemo  # noqa: E402

modelmemo.install()


if PG_URL and "options=" in PG_URL:
    raise pytest.UsageError("TAILOR_TEST_DATABASE_URL must be a plain URL: each test gets a "
                            "database of its own on that server")

# PostgreSQL test sessions commit without waiting for the WAL to reach the disk: a commit took
# 10-20 ms against about 1 ms, and the suite commits hundreds of thousands of times. What other
# sessions see, and when, is unchanged (only a crash of the server itself could lose the last
# commits, which no test does). PGOPTIONS reaches every connection without options of its own
# (the per-test databases, templates, the processes tests start).
SESSION_OPTIONS = "-c synchronous_commit=off"
os.environ.setdefault("PGOPTIONS", SESSION_OPTIONS)

import dbcopies  # noqa: E402


def _pg_schema_url(base: str, schema: str) -> str:
    """A URL whose connections work in `schema` (for tests that make schemas of their own)."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    name = dbcopies.pg_databases.fresh()
    try:
        yield dbcopies.database_url(name)
    finally:
        dbcopies.pg_databases.drop(name)


@pytest.fixture
def db_engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


# -- projects built from YAML strings ----------------------------------------------------------
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

MINIMAL_SETTINGS = "name: test\nlanguages: [en, zh]\n"


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: YAML text} under `root`; adds a minimal tailor.yaml if absent."""
    root.mkdir(parents=True, exist_ok=True)
    files = dict(files)
    files.setdefault("tailor.yaml", MINIMAL_SETTINGS)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path):
    """`make_project({"entities/customer.yaml": "..."})` -> project folder path."""
    counter = iter(range(1000))

    def make(files: dict[str, str], name: str | None = None) -> Path:
        return write_project(tmp_path / (name or f"project{next(counter)}"), files)

    return make


@pytest.fixture
def build_model(make_project):
    """`build_model({"entities/x.yaml": "..."})` -> CompiledModel (raises ProjectError)."""
    from engine.model import load_model

    def build(files: dict[str, str], name: str | None = None):
        return load_model(make_project(files, name), entry_points=False)

    return build


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """Kept for fixtures that name it: the migrated SQLite files now live in
    dbcopies.sqlite_copies (one cache for service_for and the web fixtures)."""
    return {"folder": tmp_path_factory.mktemp("migrated-sqlite"), "files": {}}


def _migration_key(model) -> tuple:
    """See dbcopies.migration_key (kept for callers of the old name)."""
    return dbcopies.migration_key(model)


@pytest.fixture
def service_for(build_model, db_url, migrated_sqlite):
    """`service_for({...yaml files...})` -> RecordService on a migrated database (SQLite and PostgreSQL).

    The first migration of an empty database to a model is done once per test process: later
    tests that want the same model on their still empty database get a copy (a file copy on
    SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL; see dbcopies.py). A second call in
    one test migrates the database it already has, for real."""
    from engine.records import RecordService

    engines = []

    def make(files: dict[str, str]):
        model = build_model(files)
        engine = dbcopies.migrated_engine(model, db_url)
        engines.append(engine)
        return RecordService(model, engine)

    yield make
    for engine in engines:
        engine.dispose()


# -- the order the two test processes take the tests in -----------------------------------------
# The longest tests (seconds per database measured in `make test`, slowest first) go first, so
# that no long test is left for the end while the other process has nothing to do; pytest-xdist
# spreads the rest (`--dist worksteal` in pyproject.toml: a process that runs out takes over half
# of the other's queue). Modules with module-scoped fixtures stay together (not listed).
SLOW_FIRST = [
    "tests/web/test_edge_fuzz.py::test_form_fields_never_give_a_server_error",
    "tests/browser/test_designer_in_browser.py::test_admin_designs_and_a_rep_on_another_process_uses_it",
    "tests/load/test_load_with_faults.py::test_load_with_faults_loses_nothing_doubles_nothing_and_recovers",
    "tests/browser/test_import_in_browser.py::test_upload_map_dry_run_fix_run_with_progress_and_revert",
    "tests/design/test_pages_design.py::test_junk_gets_an_answer_never_a_500",
    "tests/browser/test_accessibility.py::test_main_pages_have_no_serious_accessibility_violations_in_both_languages",
    "tests/workflows/test_flow_properties.py::test_random_operations_keep_the_invariants",
    "tests/web/test_edge_fuzz.py::test_query_parameters_never_give_a_server_error",
    "tests/web/test_edge_fuzz.py::test_path_parameters_never_give_a_server_error",
    "tests/web/test_zh_walk.py::test_every_role_reads_the_engine_in_chinese",
    "tests/design/test_pages_design.py::test_new_entity_settings_and_options_with_order_and_colour",
    "tests/browser/test_home_in_browser.py::test_a_managers_home_opens_the_approvals_waiting",
    "tests/workflows/test_flow_concurrency.py::test_processes_deciding_the_same_tasks",
    "tests/browser/test_home_in_browser.py::test_a_reps_home_opens_what_is_due_and_the_records_timeline",
    "tests/design/test_pages_design.py::test_add_a_field_place_it_apply_rename_remove_restore_revert_export",
    "tests/browser/test_policy_in_browser.py::test_the_pages_run_under_the_policy",
    "tests/imports/test_import_kill.py::test_kill_9_mid_import_then_resume_imports_every_row_once",
    "tests/design/test_pages_design.py::test_every_field_form_posted_as_shown_changes_nothing",
    "tests/expr/test_expr_agreement.py::test_where_selects_exactly_the_rows_evaluate_accepts",
    "tests/browser/test_flows.py::test_create_customer_with_two_contacts_then_edit",
    "tests/browser/test_report_builder_in_browser.py::test_build_preview_and_save_a_report_on_a_phone",
    "tests/browser/test_flows.py::test_two_sessions_editing_the_same_record_see_a_conflict",
    "tests/browser/test_link_rules_in_browser.py::test_lookups_on_focus_filters_and_copies",
    "tests/expr/test_expr_agreement.py::test_selected_values_equal_evaluated_values",
    "tests/diff/test_cli_diff.py::test_exit_0_when_nothing_differs",
]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("[", 1)[0], len(rank)))  # stable: the rest keep their order
