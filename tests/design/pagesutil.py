"""Helpers for the designer page tests: the demo CRM app (tests/web/webutil.py) with an
administrator (`root`, the is_admin flag), a user holding the `admin` role but not the flag
(`alice`) and a sales rep (`rep`); and what a browser would post for a designer form."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))

from webutil import PASSWORD, client, crm_app, csrf_of, make_app, make_user, sign_in, templates  # noqa: E402,F401

from engine.storage import users, write_engine  # noqa: E402

__all__ = ["PASSWORD", "client", "crm_app", "csrf_of", "make_app", "sign_in", "templates", "FormValues",
           "form_values", "add_people", "signed_in"]


def add_people(app) -> None:
    """root (administrator), rep (sales rep); alice is already there (the admin role)."""
    state = app.extensions["tailor"]
    make_user(state.engine, state.model, "root", roles=())
    make_user(state.engine, state.model, "rep", roles=("sales_rep",))
    with write_engine(state.engine).begin() as conn:
        conn.execute(users.update().where(users.c.username == "root").values(is_admin=True))


def signed_in(app, username: str):
    client = app.test_client()
    response = sign_in(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


class FormValues(HTMLParser):
    """The successful controls of the first form whose class attribute has `css`."""

    def __init__(self, css: str):
        super().__init__(convert_charrefs=True)
        self.css = css
        self.values: list[tuple[str, str]] = []
        self.state = "before"
        self.select: str | None = None
        self.selected: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.state == "before" and self.css in (a.get("class") or "").split():
            self.state = "inside"
            return
        if self.state != "inside" or "disabled" in a:
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.values.append((a["name"], a.get("value") or "on"))
            elif kind not in ("submit", "button", "reset", "image", "file"):
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select" and "name" in a:
            self.select, self.selected, self.first_option = a["name"], None, None
        elif tag == "option" and self.select is not None:
            value = a.get("value") or ""  # the designer's options all state their value
            if self.first_option is None:
                self.first_option = value
            if "selected" in a:
                self.selected = value
        elif tag == "textarea" and "name" in a:
            self.textarea = a["name"]
            self.values.append((a["name"], ""))

    def handle_data(self, data):
        if self.textarea is not None:
            name, text = self.values[-1]
            self.values[-1] = (name, text + data)

    def handle_endtag(self, tag):
        if self.state != "inside":
            return
        if tag == "form":
            self.state = "after"
        elif tag == "select" and self.select is not None:
            chosen = self.selected if self.selected is not None else self.first_option
            self.values.append((self.select, chosen or ""))
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_values(html: str, css: str) -> dict[str, str]:
    parser = FormValues(css)
    parser.feed(html)
    assert parser.state != "before", f"no form of class {css!r} on the page"
    return dict(parser.values)
