"""`tailor diff P P --designer`: what the designer layer changes over the project's YAML,
and the exported layer compared with the live one (no differences), on both databases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "design"))
from designutil import ADMIN, FILES, add_wechat, migrate  # noqa: E402

from engine import design  # noqa: E402
from engine.cli import cli  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, ["diff", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture
def designed(make_project, db_url):
    root = make_project(FILES)
    model, engine = migrate(root, db_url)
    design.apply(root, engine, [*add_wechat(), {"path": "entities.customer.fields.phone.label",
                                                "value": {"en": "Mobile", "zh": "手机"}}],
                 user=ADMIN, comment="WeChat", expected_version=model.version)
    yield root, engine, db_url
    engine.dispose()


def test_the_designer_layer_against_the_yaml(designed):
    root, _engine, url = designed
    plain = run(root, root)
    assert plain.exit_code == 0, plain.output  # without --designer both sides are the YAML
    result = run(root, root, "--designer", "--database", url)
    assert result.exit_code == 1, result.output
    assert "customer.wechat_id" in result.output and "WeChat ID" in result.output
    assert "“Phone” → “Mobile”" in result.output
    zh = run(root, root, "--designer", "--database", url, "--lang", "zh")
    assert "微信号" in zh.output and "“电话” → “手机”" in zh.output


def test_an_exported_layer_is_the_live_model(designed, tmp_path):
    root, engine, url = designed
    out = tmp_path / "client" / "shop_designer"
    design.export_layer(root, engine, out)
    assert run(root, out).exit_code == 1  # the export holds the designer's changes ...
    same = run(out, root, "--designer", "--database", url)
    assert same.exit_code == 0, same.output  # ... and nothing else


def test_designer_without_a_database_is_an_error(make_project, tmp_path, monkeypatch):
    monkeypatch.delenv("TAILOR_DATABASE_URL", raising=False)
    root = make_project(FILES)
    result = run(root, root, "--designer", "--database", f"sqlite:///{tmp_path / 'none.sqlite'}")
    assert result.exit_code == 2 and "--designer needs the database" in result.output
    assert not (tmp_path / "none.sqlite").exists()
