"""`tailor check` of a link's `filter:` and a field's `copy_from:`: every problem at once,
at its character, with its stable code; good ones compile into the model."""

from __future__ import annotations

import pytest

from engine.errors import ProjectError

PRODUCT = """
entity: product
fields:
  name: {type: string}
  active: {type: boolean}
  price: {type: money}
  secret: {type: decimal, hidden: true}
  masked: {type: phone, mask: phone}
  parts: {type: lines, fields: {sku: {type: string}}}
"""

ORDER = """
entity: sales_order
fields:
  customer: {type: string}
  product: {type: link, to: product, filter: "active and name != record.customer and price > 0"}
  typo: {type: link, to: product, filter: "actve == true or record.custmer == 'x'"}
  rows: {type: link, to: product, filter: "count(parts) > 0"}
  price: {type: decimal, copy_from: product.price}
  lines:
    type: lines
    fields:
      item: {type: link, to: product, filter: "active and record.qty > 0"}
      qty: {type: integer}
      unit_price: {type: decimal, copy_from: item.price}
      wrong_link: {type: decimal, copy_from: product.price}
      hidden: {type: decimal, copy_from: item.secret}
      masked: {type: phone, copy_from: item.masked}
      other_kind: {type: date, copy_from: item.price}
      not_a_link: {type: string, copy_from: qty.name}
      no_field: {type: decimal, copy_from: item.prise}
      whole_rows: {type: string, copy_from: item.parts}
  total: {type: computed, expression: "1", copy_from: product.price}
  on_string: {type: string, filter: "true"}
"""


def _problems(build_model, order: str = ORDER):
    with pytest.raises(ProjectError) as info:
        build_model({"entities/product.yaml": PRODUCT, "entities/sales_order.yaml": order})
    return [(p.code, p.position.line, p.position.column, p.message) for p in info.value.problems]


def test_every_problem_with_its_code_and_position(build_model):
    found = _problems(build_model)
    where = {(code, line, column) for code, line, column, _message in found}
    assert ("E502", 5, 44) in where  # 'actve': a field of the target (product)
    assert ("E502", 5, 68) in where  # record.custmer: a field of the record being edited
    assert ("E413", 6, 43) in where  # child rows cannot be read in SQL
    assert ("E307", 14, 46) in where  # 'product' is no link of the row (it is the record's)
    assert ("E414", 15, 42) in where  # hidden field of the target
    assert ("E414", 16, 40) in where  # masked
    assert ("E414", 17, 43) in where  # a number into a date
    assert ("E414", 18, 45) in where  # qty is no link
    assert ("E307", 19, 44) in where  # item.prise
    assert ("E414", 20, 45) in where  # lines hold no single value
    assert ("E407", 21, 44) in where  # a computed field copies nothing
    assert ("E407", 22, 29) in where  # filter is an option of links only
    hints = " ".join(m for *_rest, m in found)
    assert "'record' has no attribute 'custmer'" in hints and "entity 'product' has no field 'prise'" in hints
    assert len(found) == 12, found


def test_good_rules_compile_into_the_model(build_model):
    good = "\n".join(line for line in ORDER.splitlines()
                     if not any(bad in line for bad in ("typo", "rows:", "wrong_link", "hidden:", "masked:",
                                                        "other_kind", "not_a_link", "no_field", "whole_rows",
                                                        "total:", "on_string")))
    model = build_model({"entities/product.yaml": PRODUCT, "entities/sales_order.yaml": good})
    order = model.entity("sales_order")
    assert order.fields["product"].link_filter.attributes("record") == {"customer"}
    assert order.fields["price"].copy_from == ("product", "price")
    line = order.fields["lines"].subfields
    assert line["item"].link_filter.attributes("record") == {"qty"}
    assert line["unit_price"].copy_from == ("item", "price")


def test_a_rows_filter_reads_the_record_above_it_as_parent(build_model):
    """`parent.NAME` in the filter of a row's link names a field of the record holding the
    row (E502 at its character when there is none); a link of the record itself has no parent."""
    order = """
entity: sales_order
fields:
  customer: {type: string}
  product: {type: link, to: product, filter: "name == parent.customer"}
  lines:
    type: lines
    fields:
      item: {type: link, to: product, filter: "name == parent.customer and active"}
      other: {type: link, to: product, filter: "name == parent.custmer"}
"""
    found = _problems(build_model, order)
    assert [(code, line, column) for code, line, column, _m in found] == [("E502", 4, 55), ("E502", 9, 64)], found
    good = "\n".join(line for line in order.splitlines() if "product: {" not in line and "other:" not in line)
    model = build_model({"entities/product.yaml": PRODUCT, "entities/sales_order.yaml": good})
    item = model.entity("sales_order").fields["lines"].subfields["item"]
    assert item.link_filter.attributes("parent") == {"customer"}
