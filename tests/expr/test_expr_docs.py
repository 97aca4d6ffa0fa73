"""docs/expressions.md stays in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import CODES
from engine.expr import default_registry, reference_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"


def test_function_table_matches_the_registry():
    text = DOC.read_text(encoding="utf-8")
    embedded = text.split("<!-- functions:start -->\n", 1)[1].split("\n<!-- functions:end -->", 1)[0]
    assert embedded == reference_table(default_registry()), "regenerate the table with reference_table()"


def test_every_expression_error_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| (E5\d\d) \|", text, flags=re.MULTILINE))
    assert documented == {code for code in CODES if code.startswith("E5")}
