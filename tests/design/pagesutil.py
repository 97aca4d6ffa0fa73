"""Helpers for the designer page tests: the demo CRM app (tests/web/webutil.py) with an
administrator (`root`, the is_admin flag), a user holding the `admin` role but not the flag
(`alice`) and a sales rep (`rep`); and what a browser would post for a designer form."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formutil import FormValues  # noqa: E402
from formutil import form_values as _form_values  # noqa: E402
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


def form_values(html: str, css: str) -> dict[str, str]:
    """What a browser posts for the first form of class `css` (tests/formutil.py), by name."""
    return dict(_form_values(html, css))
