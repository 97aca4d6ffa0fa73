"""`make bench`, imports and exports: figures against a baseline measured in the same run.

1. BENCH_IMPORT_ROWS (default 100,000) customers of the demo CRM imported from a CSV file
   through the full records service (what `tailor import` in the foreground does: the file
   checked and kept in a run, then the run: conversion, permissions of a sales rep,
   validation, autonumbers, audit, batches of 2,000 committed with their progress) versus
   SQLAlchemy Core `executemany` of the same rows into the same table (every value the
   service stores: the search key, the rollups' zeros, …; after each round both tables are
   compared as the driver reads them, so the baseline cannot drift), BENCH_IMPORT_ROUNDS
   (default 3) rounds of both, one after the other: the medians and their ratio are printed
   with each round's ratio and the load average (the machine may be shared), and the
   medians of the process's CPU time of both. The issue's goal is at least 25 % of Core's
   rate; the ratio is printed, not asserted.
2. BENCH_EXPORT_ROWS (default 1,000,000) customers exported to XLSX by `tailor export`'s
   code in a child process, whose peak resident memory is printed (the goal: flat, below
   150 MB) beside the same process's memory before exporting.

A count of 0 skips that part. SQLite by default; TAILOR_BENCH_DATABASE_URL (a PostgreSQL
URL) to measure there.
"""

from __future__ import annotations

import gc
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.imports import run, start  # noqa: E402
from engine.imports.runs import BATCH, prepare  # noqa: E402
from engine.migrate import apply_plan, plan_migration, upgrade_system_tables  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.model.search import SEPARATOR  # noqa: E402
from engine.permissions.org import set_roles  # noqa: E402
from engine.records import Context, RecordService  # noqa: E402
from engine.storage import make_engine, write_engine  # noqa: E402
from engine.users import create_user  # noqa: E402
from engine.workflows.duties import actor_of  # noqa: E402

IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 100_000))
REPEAT = int(os.environ.get("BENCH_IMPORT_ROUNDS", 3))
EXPORT_ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", 1_000_000))
PROJECT = ROOT / "examples" / "crm"
LEVELS = ("high", "medium", "low")


def database(folder: Path, name: str) -> str:
    url = os.environ.get("TAILOR_BENCH_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{folder / name}"


def fresh(url: str):
    model = load_model(PROJECT)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with write_engine(engine).begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade_system_tables(engine)
    apply_plan(engine, plan_migration(engine, model.metadata, project=model.project, metadata_version=model.version))
    return model, engine


def importer(model, engine) -> int:
    """The user who imports: a sales rep (the demo's most restricted role allowed to import
    customers: their own records, fields they may only read), so every permission check
    runs as for a user, none bypassed as they are for the engine itself or an admin."""
    user_id = create_user(engine, "importer", None)
    with write_engine(engine).begin() as conn:
        set_roles(conn, user_id, ("sales_rep",), model.roles)
    return user_id


def csv_file(rows: int) -> bytes:
    lines = ["名称,等级,城市,员工人数,年营业额"]
    lines += [f"Customer {i:07d},{('高', '中', '低')[i % 3]},Shanghai,{i % 500},{(i % 1000) * 100}.50" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def core_rows(rows: int) -> list[dict]:
    """The rows the service stores for the file's rows, every value of them (the search
    key, the rollups' zeros, the empty phone list's JSON nulls): Core inserts the same
    rows, checked after each round (`same_rows`)."""
    now = datetime.now(UTC)
    zero = Decimal("0.00")
    return [{"name": f"Customer {i:07d}", "level": LEVELS[i % 3], "city": "Shanghai", "employees": i % 500,
             "annual_revenue": Decimal((i % 1000) * 100) + Decimal("0.50"), "annual_revenue_currency": "CNY",
             "code": f"CUS-{i + 1:05d}", "classification": "prospect", "country": "China",
             "tailor_search": f"customer {i:07d}{SEPARATOR}cus-{i + 1:05d}", "phones": None, "phones_items": None,
             "phones_kinds": None, "open_opportunities": 0, "open_pipeline": zero, "won_revenue": zero,
             "activity_count": 0, "created_by": None, "owner": None, "created_at": now, "updated_at": now,
             "version": 1}
            for i in range(rows)]


def bench_import(folder: Path) -> None:
    """Rounds of the service's import and Core's executemany, one after the other (the
    machine's load moves both alike): the medians, their ratio and each round's ratio."""
    data = csv_file(IMPORT_ROWS)
    service_rates, core_rates, service_cpu, core_cpu = [], [], [], []
    load = os.getloadavg()[0]
    for round_ in range(REPEAT):
        seconds, cpu, stored_by_service = import_by_service(folder, data, round_)
        service_rates.append(IMPORT_ROWS / seconds)
        service_cpu.append(cpu)
        seconds, cpu, stored_by_core = import_by_core(folder, round_)
        core_rates.append(IMPORT_ROWS / seconds)
        core_cpu.append(cpu)
        assert stored_by_core == stored_by_service, "Core did not insert the rows the service stores"
    service_rate, core_rate = statistics.median(service_rates), statistics.median(core_rates)
    rounds = ", ".join(f"{s / c:.1%}" for s, c in zip(service_rates, core_rates, strict=True))
    print(f"import {IMPORT_ROWS:,} customers, median of {REPEAT}: service {service_rate:,.0f} rows/s "
          f"({IMPORT_ROWS / service_rate:.1f} s), Core executemany {core_rate:,.0f} rows/s "
          f"({IMPORT_ROWS / core_rate:.1f} s): {service_rate / core_rate:.1%} of Core (goal: at least 25 %; "
          f"rounds: {rounds}; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)")
    # the time this process spent on the CPU, which other load on the machine moves less than
    # the clock (on PostgreSQL the server's own work is not in it)
    service_cpu_s, core_cpu_s = statistics.median(service_cpu), statistics.median(core_cpu)
    print(f"  CPU time of this process, median: service {service_cpu_s:.1f} s, Core {core_cpu_s:.1f} s: "
          f"{core_cpu_s / service_cpu_s:.1%} (the same ratio by CPU time)")


def import_by_service(folder: Path, data: bytes, round_: int) -> tuple[float, float, str]:
    """Seconds to import the file through the records service (a fresh database), the
    process's CPU seconds of it, and the rows it stored."""
    model, engine = fresh(database(folder, f"service{round_}.sqlite"))
    service = RecordService(model, engine)
    with engine.connect() as conn:
        actor = actor_of(conn, importer(model, engine))
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    context = Context(actor=actor)  # as `tailor import` in the foreground: the file read once, then the run
    prepared = prepare(service, "customer", data, "customers.csv", None, context)
    summary = run(service, start(service, "customer", data, "customers.csv", context=context, prepared=prepared,
                                 here=True))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert summary.created == IMPORT_ROWS, summary.to_dict()
    stored = stored_rows(engine)
    engine.dispose()
    return seconds, cpu, stored


def import_by_core(folder: Path, round_: int) -> tuple[float, float, str]:
    """Seconds for SQLAlchemy Core to insert the same rows into the same table (a fresh
    database): executemany in batches of the import's size, all in one transaction (the
    service commits each batch, which a resumable import needs; the baseline does not);
    and the rows it stored. The rows are made here, not kept between rounds: a million
    dicts alive while the service imports would make its garbage collector slower."""
    model, engine = fresh(database(folder, f"core{round_}.sqlite"))
    table = model.entity("customer").table
    user_id = importer(model, engine)
    rows = [{**row, "owner": user_id, "created_by": user_id} for row in core_rows(IMPORT_ROWS)]
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    with write_engine(engine).begin() as conn:
        for i in range(0, len(rows), BATCH):
            conn.execute(table.insert(), rows[i:i + BATCH])
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    stored = stored_rows(engine)
    engine.dispose()
    return seconds, cpu, stored


def stored_rows(engine) -> str:
    """A digest of every customer row as the driver reads it (a JSON null is not an SQL
    NULL there), without the clock's columns."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        result = conn.exec_driver_sql("SELECT * FROM customer ORDER BY id")
        keep = [i for i, column in enumerate(result.cursor.description) if column[0] not in ("created_at", "updated_at")]
        for row in result:
            digest.update(repr(tuple(row[i] for i in keep)).encode())
    return digest.hexdigest()


def bench_export(folder: Path) -> None:
    url = database(folder, "export.sqlite")
    model, engine = fresh(url)
    table = model.entity("customer").table
    with write_engine(engine).begin() as conn:
        for i in range(0, EXPORT_ROWS, 20_000):
            conn.execute(table.insert(), [{**r, "name": f"Customer {i + n:07d}", "code": f"CUS-{i + n:07d}"}
                                          for n, r in enumerate(core_rows(min(20_000, EXPORT_ROWS - i)))])
    engine.dispose()
    out = folder / "export.xlsx"
    child = subprocess.run([sys.executable, __file__, "--export-child", url, str(out)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    print(child.stdout.strip() or child.stderr.strip()[-2000:])


def export_child(url: str, out: str) -> None:
    from engine.imports.files import export

    model = load_model(PROJECT)
    service = RecordService(model, make_engine(url))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    with open(out, "wb") as target:
        written = export(service, "customer", "xlsx", target, Context())
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"export {written:,} customers to XLSX: {written / seconds:,.0f} rows/s ({seconds:.1f} s), "
          f"peak memory {peak:.0f} MB (the process held {before:.0f} MB before exporting; goal: below 150 MB), "
          f"file {os.path.getsize(out) / 1024 / 1024:.0f} MB")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--export-child":
        export_child(sys.argv[2], sys.argv[3])
        return
    with tempfile.TemporaryDirectory() as folder:
        if IMPORT_ROWS:
            bench_import(Path(folder))
        if EXPORT_ROWS:
            bench_export(Path(folder))


if __name__ == "__main__":
    main()
