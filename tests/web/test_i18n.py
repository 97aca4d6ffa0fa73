"""Every piece of UI text has a Chinese translation, and pages use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from webutil import csrf_of

from engine.paths import ROOT

CATALOGUE = ROOT / "engine" / "web" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def test_every_message_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(pybabel), "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(pot), "."],
                   check=True, cwd=ROOT, capture_output=True)
    wanted = {m.id for m in read_po(pot.open("rb")) if m.id}
    with CATALOGUE.open("rb") as f:
        have = {m.id: m.string for m in read_po(f, locale="zh") if m.id}
    untranslated = sorted(str(i) for i in wanted if not have.get(i) or not any(have[i] if isinstance(have[i], tuple)
                                                                             else [have[i]]))
    assert untranslated == [], f"run pybabel update and translate: {untranslated}"


def test_chinese_pages(client):
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    listing = client.get("/e/customer").get_data(as_text=True)
    assert "导出 CSV" in listing and "客户" in listing
    assert "退出" in client.get("/home").get_data(as_text=True)


def test_a_word_that_reads_differently_in_another_place(client):
    """"Created" is 创建时间 as a column, 创建 as what happened in a record's history."""
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    record = client.get("/e/customer/1").get_data(as_text=True)
    history = record.split('entry-create"', 1)[1].split("</li>", 1)[0]
    assert "<strong>创建</strong>" in history and "创建时间" not in history
    assert "创建时间" in client.get("/e/customer?cols=name,created_at").get_data(as_text=True)


def test_an_unknown_page_is_said_in_the_readers_language(client):
    page = client.get("/home").get_data(as_text=True)
    client.post("/language", data={"language": "zh", "next": "/home", "csrf_token": csrf_of(page)})
    for path in ("/dashboards/nope", "/e/nope", "/no/such/page"):
        response = client.get(path)
        assert response.status_code == 404 and "此页面不存在" in response.get_data(as_text=True), path
