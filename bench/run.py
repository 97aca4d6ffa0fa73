"""`make bench`: performance figures, each against a baseline measured in the same run.

The machine is small and noisy, so every figure is the median of several runs and is
reported with its ratio to a baseline, never judged by a timed assertion in the tests.

1. Compile a generated project of 100 entities x 40 fields (load, validate, check, build)
   vs. plain `yaml.safe_load` of the same files plus hand-built SQLAlchemy tables.
2. Migration planning against an up-to-date database (SQLite, and PostgreSQL when
   TAILOR_BENCH_DATABASE_URL or TAILOR_TEST_DATABASE_URL is set).
3. Adding a nullable column to a 1,000,000-row table vs. a 1,000-row table: must stay flat.
4. Writes of records that rollups count (each refreshes its customer's totals under a row
   lock) vs. the same writes in a project without the rollups.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.gcpause import gc_paused  # noqa: E402
from engine.migrate import apply_plan, plan_migration  # noqa: E402
from engine.model import load_model  # noqa: E402
from engine.storage import make_engine  # noqa: E402

ENTITIES = int(os.environ.get("BENCH_ENTITIES", 100))
FIELDS = int(os.environ.get("BENCH_FIELDS", 40))
REPEAT = int(os.environ.get("BENCH_REPEAT", 5))
BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", 1_000_000))
SMALL_ROWS = 1_000
PG_URL = os.environ.get("TAILOR_BENCH_DATABASE_URL") or os.environ.get("TAILOR_TEST_DATABASE_URL")

KINDS = ["string", "integer", "decimal", "choice", "date", "boolean", "money", "text", "email", "link"]


def generate_project(root: Path) -> None:
    (root / "entities").mkdir(parents=True)
    (root / "tailor.yaml").write_text("name: bench\nlanguages: [en, zh]\n", encoding="utf-8")
    for e in range(ENTITIES):
        lines = [f"entity: entity_{e}", f"label: {{en: Entity {e}, zh: 实体{e}}}", "title: field_0", "fields:"]
        for f in range(FIELDS):
            kind = KINDS[f % len(KINDS)]
            name = f"field_{f}"
            label = f"{{en: Field {f}, zh: 字段{f}}}"
            if kind == "choice":
                lines.append(f"  {name}: {{type: choice, label: {label}, options: [a, b, c], default: a}}")
            elif kind == "link":
                target = f"entity_{max(e - 1, 0)}" if e else "entity_0"
                lines.append(f"  {name}: {{type: link, to: {target}, label: {label}}}")
            elif kind == "integer" and f % 20 == 1:
                lines.append(f"  {name}: {{type: integer, label: {label}, min: 0, max: 1000000}}")
            elif kind == "decimal" and f % 20 == 2:
                lines.append(f"  {name}: {{type: decimal, label: {label}, visible_when: \"field_1 > 10\"}}")
            else:
                lines.append(f"  {name}: {{type: {kind}, label: {label}}}")
        lines.append("  total: {type: computed, expression: \"field_1 * 2 + field_2\"}")
        lines += ["list:", "  columns: [field_0, field_1, field_3]", "  filters: [field_3, field_4]",
                  "  sort: -field_4", "rules:", "  - check: \"field_1 >= 0\"", "    message: positive"]
        (root / "entities" / f"entity_{e}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def baseline(root: Path) -> sa.MetaData:
    """What a hand-written app would do: read the YAML and build the tables directly."""
    metadata = sa.MetaData()
    types = {"string": sa.String(255), "integer": sa.BigInteger(), "decimal": sa.Numeric(18, 4),
             "choice": sa.String(64), "date": sa.Date(), "boolean": sa.Boolean(), "text": sa.Text(),
             "email": sa.String(254)}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the fastest plain loader, as the engine uses
    docs = [yaml.load(p.read_text(encoding="utf-8"), Loader=loader)
            for p in sorted((root / "entities").glob("*.yaml"))]
    for doc in docs:
        columns = [sa.Column("id", sa.Integer, primary_key=True)]
        for name, spec in doc["fields"].items():
            kind = spec["type"]
            if kind == "link":
                columns.append(sa.Column(name, sa.Integer, sa.ForeignKey(f"{spec['to']}.id")))
            elif kind == "money":
                columns += [sa.Column(name, sa.Numeric(18, 2)), sa.Column(f"{name}_currency", sa.String(3))]
            elif kind == "computed":
                columns.append(sa.Column(name, sa.Numeric(18, 4)))
            else:
                columns.append(sa.Column(name, types[kind]))
        sa.Table(doc["entity"], metadata, *columns)
    return metadata


def timed(fn, repeat=REPEAT):
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_compile(root: Path):
    with gc_paused():  # the engine pauses the cyclic GC while compiling: so does the baseline
        t_base, _ = timed(lambda: baseline(root))
    t_full, model = timed(lambda: load_model(root, entry_points=False))
    print(f"compile {ENTITIES} entities x {FIELDS} fields: median {t_full * 1000:.0f} ms "
          f"(baseline: plain YAML load + hand-built tables {t_base * 1000:.0f} ms; ratio {t_full / t_base:.1f}x); "
          f"target < 1000 ms: {'OK' if t_full < 1 else 'MISSED'}")
    return model


def pg_url_with_schema(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


class Databases:
    """Fresh, empty databases for each measurement: SQLite files, and PostgreSQL schemas."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="tailor-bench-"))
        self.schemas: list[str] = []
        self.admin = sa.create_engine(PG_URL) if PG_URL else None

    def kinds(self) -> list[str]:
        return ["sqlite"] + (["postgresql"] if PG_URL else [])

    def new(self, kind: str) -> str:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.sqlite')}"
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        self.schemas.append(name)
        return pg_url_with_schema(PG_URL, name)

    def close(self) -> None:
        if self.admin is not None:
            with self.admin.begin() as conn:
                for name in self.schemas:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            self.admin.dispose()


def bench_planning(model, name: str, url: str) -> None:
    engine = make_engine(url)
    apply_plan(engine, plan_migration(engine, model.metadata, project="bench", metadata_version=model.version))
    t_plan, plan = timed(lambda: plan_migration(engine, model.metadata, project="bench",
                                                metadata_version=model.version), repeat=3)
    pending = [op for op in plan.operations if op.applies]
    print(f"[{name}] plan against an up-to-date database ({len(model.metadata.tables)} tables): "
          f"median {t_plan * 1000:.0f} ms, {len(pending)} pending operations; target < 1000 ms: "
          f"{'OK' if t_plan < 1 else 'MISSED'}")
    engine.dispose()


def fill(engine, table: sa.Table, rows: int) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"INSERT INTO {table.name} (created_at, updated_at, version, label) "
                f"SELECT now(), now(), 1, 'row ' || g FROM generate_series(1, {rows}) g")
        else:
            conn.exec_driver_sql(
                f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) "
                f"INSERT INTO {table.name} (created_at, updated_at, version, label) "
                f"SELECT datetime('now'), datetime('now'), 1, 'row ' || n FROM g")


def bench_add_column(name: str, databases: Databases, make_project) -> None:
    results = {}
    for rows in (SMALL_ROWS, BIG_ROWS):
        url = databases.new(name)
        entity = f"t{rows}"
        before = make_project(entity, extra=False)
        after = make_project(entity, extra=True)
        engine = make_engine(url)
        apply_plan(engine, plan_migration(engine, before.metadata, project="bench", metadata_version=before.version))
        fill(engine, before.metadata.tables[entity], rows)
        plan = plan_migration(engine, after.metadata, project="bench", metadata_version=after.version)
        start = time.perf_counter()
        apply_plan(engine, plan)
        results[rows] = time.perf_counter() - start
        engine.dispose()
    ratio = results[BIG_ROWS] / results[SMALL_ROWS]
    print(f"[{name}] add a column: {SMALL_ROWS:,} rows {results[SMALL_ROWS] * 1000:.0f} ms, "
          f"{BIG_ROWS:,} rows {results[BIG_ROWS] * 1000:.0f} ms (ratio {ratio:.2f}x; flat means close to 1)")


ROLLUP_PROJECT = {
    "customer": "entity: customer\nfields:\n  name: {type: string}\n",
    "deal": ("entity: deal\nfields:\n  name: {type: string}\n  customer: {type: link, to: customer}\n"
             "  amount: {type: decimal}\n  stage: {type: choice, options: [open, won, lost], default: open}\n"),
}
ROLLUPS = ("  open_deals: {type: rollup, from: deal.customer, aggregate: count, where: \"stage == 'open'\"}\n"
           "  open_amount: {type: rollup, from: deal.customer, aggregate: sum, field: amount, where: \"stage == 'open'\"}\n"
           "  won_amount: {type: rollup, from: deal.customer, aggregate: sum, field: amount, where: \"stage == 'won'\"}\n")
ROLLUP_WRITES = int(os.environ.get("BENCH_ROLLUP_WRITES", 600))


def bench_rollups(name: str, databases, tmp: Path) -> None:
    """Deals created and moved through stages, with and without three rollups on customer."""
    from engine.records import RecordService

    rates = {}
    for variant in ("without", "with"):
        folder = tmp / f"rollups_{variant}_{name}"
        (folder / "entities").mkdir(parents=True, exist_ok=True)
        (folder / "tailor.yaml").write_text("name: bench\n", encoding="utf-8")
        (folder / "entities" / "deal.yaml").write_text(ROLLUP_PROJECT["deal"], encoding="utf-8")
        customer = ROLLUP_PROJECT["customer"] + (ROLLUPS if variant == "with" else "")
        (folder / "entities" / "customer.yaml").write_text(customer, encoding="utf-8")
        model = load_model(folder, entry_points=False)
        engine = make_engine(databases.new(name))
        apply_plan(engine, plan_migration(engine, model.metadata, project="bench", metadata_version=model.version))
        service = RecordService(model, engine)
        customers = [service.create("customer", {"name": f"c{i}"})["id"] for i in range(20)]
        runs = []
        for run in range(3):
            start = time.perf_counter()
            for i in range(ROLLUP_WRITES // 2):
                deal = service.create("deal", {"name": f"d{run}-{i}", "customer": customers[i % 20], "amount": i})
                service.update("deal", deal["id"], {"stage": "won"}, version=deal["version"])
            runs.append(ROLLUP_WRITES / (time.perf_counter() - start))
        rates[variant] = statistics.median(runs)
        if variant == "with":
            open_deals = service.get("customer", customers[0])["open_deals"]
            assert open_deals == 0, "every deal was moved to won: no open deal may be counted"
        engine.dispose()
    ratio = rates["with"] / rates["without"]
    print(f"[{name}] deal writes counted by 3 rollups on their customer: {rates['with']:.0f}/s; without the "
          f"rollups {rates['without']:.0f}/s; ratio {ratio:.2f}x; target >= 0.5x: {'OK' if ratio >= 0.5 else 'MISSED'}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        generate_project(root)
        model = bench_compile(root)

        def make_project(entity: str, extra: bool):
            folder = Path(tmp) / f"{entity}_{'after' if extra else 'before'}"
            if not folder.exists():
                (folder / "entities").mkdir(parents=True)
                (folder / "tailor.yaml").write_text("name: bench\n", encoding="utf-8")
                fields = "  label: {type: string}\n" + ("  added: {type: string}\n" if extra else "")
                (folder / "entities" / "t.yaml").write_text(f"entity: {entity}\nfields:\n{fields}", encoding="utf-8")
            return load_model(folder, entry_points=False)

        databases = Databases()
        try:
            for name in databases.kinds():
                bench_planning(model, name, databases.new(name))
                bench_add_column(name, databases, make_project)
                bench_rollups(name, databases, Path(tmp))
        finally:
            databases.close()


if __name__ == "__main__":
    main()
