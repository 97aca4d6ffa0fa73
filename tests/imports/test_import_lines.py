"""Child lines (an order's lines) from the rows of one sheet: consecutive rows joined by a
group column or by blank record cells; errors at the line's own row and column; a batch
never splits a record; the failed rows file keeps a failed record whole (SQLite and
PostgreSQL)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from importutil import administrator, csv_bytes

from engine.imports import Mapping, dry_run, run, start
from engine.imports.files import failed_rows
from engine.imports.reading import read_file

PROJECT = {
    "tailor.yaml": "name: orders\nlanguages: [en, zh]\n",
    "entities/customer.yaml": """
        entity: customer
        title: name
        fields:
          name: {type: string, required: true, unique: true, label: {en: Name, zh: 名称}}
        """,
    "entities/product.yaml": """
        entity: product
        title: name
        fields:
          name: {type: string, required: true, unique: true, label: {en: Name, zh: 名称}}
        """,
    "entities/sales_order.yaml": """
        entity: sales_order
        label: {en: Order, zh: 订单}
        title: ref
        fields:
          ref: {type: string, unique: true, label: {en: Reference, zh: 单号}}
          customer: {type: link, to: customer, required: true, label: {en: Customer, zh: 客户}}
          description: {type: string, label: {en: Description, zh: 说明}}
          lines:
            type: lines
            label: {en: Lines, zh: 明细}
            fields:
              product: {type: link, to: product, required: true, label: {en: Product, zh: 产品}}
              description: {type: string, label: {en: Description, zh: 说明}}
              quantity: {type: decimal, required: true, min: 0, scale: 2, label: {en: Quantity, zh: 数量}}
              price: {type: decimal, min: 0, scale: 2, label: {en: Price, zh: 单价}}
              amount: {type: computed, expression: "quantity * coalesce(price, 0)", scale: 2}
          total: {type: computed, expression: "sum(lines.amount)", scale: 2, label: {en: Total, zh: 合计}}
        """,
}
HEADER = ["Order ref", "Customer", "Description", "Lines product", "Lines description", "数量", "单价"]


@pytest.fixture
def shop(service_for):
    service = service_for(PROJECT)
    root = administrator(service)
    for name in ("Acme", "Bolt"):
        service.create("customer", {"name": name}, root)
    for name in ("Bolt M6", "Nut M6", "Washer"):
        service.create("product", {"name": name}, root)
    return service, root


def _orders(service) -> dict[str, list[tuple]]:
    """{ref: [(product name, quantity, price), ...] in line order}."""
    order, product = service.model.entity("sales_order"), service.model.entity("product")
    lines = order.child_tables["lines"]
    with service.engine.connect() as conn:
        rows = conn.execute(sa.select(order.table.c.ref, product.table.c.name, lines.c.quantity, lines.c.price)
                            .join(lines, lines.c.parent_id == order.table.c.id)
                            .join(product.table, product.table.c.id == lines.c.product)
                            .order_by(order.table.c.id, lines.c.position)).all()
    found: dict[str, list[tuple]] = {}
    for ref, name, quantity, price in rows:
        found.setdefault(ref, []).append((name, float(quantity), float(price) if price is not None else None))
    return found


def _mapping(**settings) -> Mapping:
    columns = {"Order ref": "ref", "Customer": "customer", "Description": "description",
               "Lines product": "lines.product", "Lines description": "lines.description",
               "数量": "lines.quantity", "单价": "lines.price"}
    return Mapping(entity="sales_order", columns=columns, **settings)


def test_lines_are_suggested_from_their_labels(shop):
    service, _root = shop
    sheet = read_file(csv_bytes([HEADER, ["A", "Acme", "", "Bolt M6", "", "1", "2"]]), "o.csv")
    suggested = Mapping.suggested(service.model.entity("sales_order"), sheet).columns
    assert suggested["Description"] == "description"  # the order's own field wins the bare label
    assert suggested["Lines product"] == "lines.product"
    assert suggested["Lines description"] == "lines.description"
    assert suggested["数量"] == "lines.quantity" and suggested["单价"] == "lines.price"


def test_rows_with_the_same_group_value_make_one_order(shop):
    service, root = shop
    data = csv_bytes([HEADER,
                      ["A-1", "Acme", "first", "Bolt M6", "", "10", "0.5"],
                      ["A-1", "Acme", "", "Nut M6", "nuts", "10", "0.2"],   # the customer repeated: fine
                      ["A-1", "", "", "Washer", "", "20", "0.1"],
                      ["B-7", "Bolt", "", "Washer", "", "5", ""]])
    mapping = _mapping(group="Order ref")
    summary = dry_run(service, "sales_order", data, "o.csv", mapping, root)
    assert (summary.created, summary.failed, summary.errors) == (2, 0, [])
    assert _orders(service) == {}
    # counted as what they are: 2 records from 4 rows (the CLI and --json say so)
    assert (summary.records, summary.total, summary.counted()) == (2, 4, "2 records (4 rows)")
    assert summary.to_dict()["records"] == 2
    # batches of two rows: the first record's three rows still go together
    run_id = start(service, "sales_order", data, "o.csv", mapping, root)
    done = run(service, run_id, batch=2)
    assert (done.created, done.failed, done.status) == (2, 0, "done")
    assert _orders(service) == {"A-1": [("Bolt M6", 10.0, 0.5), ("Nut M6", 10.0, 0.2), ("Washer", 20.0, 0.1)],
                                "B-7": [("Washer", 5.0, None)]}
    order = service.model.entity("sales_order")
    with service.engine.connect() as conn:
        totals = dict(conn.execute(sa.select(order.table.c.ref, order.table.c.total)).all())
    assert float(totals["A-1"]) == 9.0  # the computed total sees every line


def test_blank_record_cells_continue_the_order_above(shop):
    service, root = shop
    data = csv_bytes([HEADER,
                      ["A-2", "Acme", "", "Bolt M6", "", "1", "1"],
                      ["", "", "", "Nut M6", "", "2", "1"],
                      ["B-2", "Bolt", "", "Washer", "", "3", "1"]])
    summary = run(service, start(service, "sales_order", data, "o.csv", _mapping(), root))
    assert (summary.created, summary.failed) == (2, 0)
    assert _orders(service) == {"A-2": [("Bolt M6", 1.0, 1.0), ("Nut M6", 2.0, 1.0)], "B-2": [("Washer", 3.0, 1.0)]}


def test_a_bad_line_fails_its_order_at_its_own_row_and_the_failed_file_keeps_the_order_whole(shop):
    service, root = shop
    data = csv_bytes([HEADER,
                      ["A-3", "Acme", "", "Bolt M6", "", "1", "1"],
                      ["A-3", "", "", "Nut M6", "", "-4", "1"],      # row 3: a negative quantity
                      ["A-3", "Bolt", "", "Washer", "", "1", "1"],   # row 4: another customer
                      ["B-3", "Bolt", "", "Gear", "", "1", "1"]])    # row 5: no such product
    mapping = _mapping(group="Order ref")
    summary = dry_run(service, "sales_order", data, "o.csv", mapping, root)
    assert (summary.created, summary.failed) == (0, 2)
    where = sorted((e.row, e.column) for e in summary.errors)
    # every problem of a record at once: the cells the import could not read (another
    # customer on a continuing row, a product that does not exist) and what the service
    # refuses of the rest (the quantity), each at its own row
    assert where == [(3, "数量"), (4, "Customer"), (5, "Lines product")], summary.to_dict()
    fixed = csv_bytes([HEADER,
                       ["A-3", "Acme", "", "Bolt M6", "", "1", "1"],
                       ["A-3", "", "", "Nut M6", "", "-4", "1"],
                       ["B-3", "Bolt", "", "Washer", "", "1", "1"]])
    summary = dry_run(service, "sales_order", fixed, "o.csv", mapping, root)
    assert (summary.created, summary.failed) == (1, 1)
    assert [(e.row, e.column) for e in summary.errors] == [(3, "数量")], summary.to_dict()
    out = io.BytesIO()
    written = failed_rows(read_file(fixed, "o.csv"), summary.errors, "csv", out, "en", mapping)
    text = out.getvalue().decode("utf-8-sig").splitlines()
    assert written == 2 and text[1].startswith("A-3,Acme") and text[2].startswith("A-3,,,Nut M6")


def test_upsert_with_lines_twice_changes_nothing_the_second_time(shop):
    service, root = shop
    data = csv_bytes([HEADER,
                      ["U-1", "Acme", "", "Bolt M6", "", "1", "1"],
                      ["U-1", "Acme", "", "Nut M6", "", "2", "1"]])
    mapping = _mapping(mode="upsert", key="ref")
    first = run(service, start(service, "sales_order", data, "o.csv", mapping, root))
    assert (first.created, first.failed) == (1, 0), first.to_dict()
    second = run(service, start(service, "sales_order", data, "o.csv", mapping, root))
    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 1, 0), second.to_dict()
    changed = csv_bytes([HEADER,
                         ["U-1", "Acme", "", "Bolt M6", "", "1", "1"],
                         ["U-1", "Acme", "", "Nut M6", "", "3", "1"]])
    third = run(service, start(service, "sales_order", changed, "o.csv", mapping, root))
    assert (third.updated, third.unchanged) == (1, 0)
    assert _orders(service) == {"U-1": [("Bolt M6", 1.0, 1.0), ("Nut M6", 3.0, 1.0)]}
    # a line value the file leaves out would be cleared: that is a change, never "unchanged"
    described = csv_bytes([HEADER,
                           ["U-1", "Acme", "", "Bolt M6", "zinc", "1", "1"],
                           ["U-1", "Acme", "", "Nut M6", "", "3", "1"]])
    assert run(service, start(service, "sales_order", described, "o.csv", mapping, root)).updated == 1
    again = run(service, start(service, "sales_order", changed, "o.csv", mapping, root))
    assert (again.updated, again.unchanged) == (1, 0)


def test_a_repeated_order_number_is_suggested_as_the_group(shop):
    """A file whose old order number repeats on its lines is grouped by it without being
    told (mapped to a unique field or to no field at all); '' says "no column"."""
    service, root = shop
    rows = [["A-9", "Acme", "", "Bolt M6", "", "1", "1"], ["A-9", "Acme", "", "Washer", "", "2", "1"],
            ["B-9", "Acme", "", "Washer", "", "3", "1"]]
    summary = dry_run(service, "sales_order", csv_bytes([HEADER, *rows]), "o.csv", None, root)
    assert (summary.created, summary.failed) == (2, 0), summary.to_dict()
    old_number = ["原单号", *HEADER[1:]]  # a column no field takes
    sheet = read_file(csv_bytes([old_number, *rows]), "o.csv")
    assert Mapping.suggested(service.model.entity("sales_order"), sheet).group == "原单号"
    summary = dry_run(service, "sales_order", csv_bytes([old_number, *rows]), "o.csv", None, root)
    assert (summary.created, summary.failed) == (2, 0), summary.to_dict()
    summary = dry_run(service, "sales_order", csv_bytes([HEADER, *rows]), "o.csv", _mapping(group=""), root)
    assert summary.created + summary.failed == 3  # told not to group: every row its own order
    assert Mapping.from_dict(_mapping(group="").to_dict()).group == ""
