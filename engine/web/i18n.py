"""Languages: UI text from message catalogues (Flask-Babel), YAML labels `{en, zh}` in the
user's language, dates, numbers and money formatted for the locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale
from markupsafe import Markup

from ..model.model import text

TRANSLATIONS = __file__.rsplit("/", 1)[0] + "/translations"
babel = Babel()


def languages() -> tuple[str, ...]:
    from .state import WebState

    return WebState.of().model.languages


def select_locale() -> str:
    user = getattr(g, "user", None)
    if user is not None and user.get("language") in languages():
        return user["language"]
    if session.get("language") in languages():
        return session["language"]
    return request.accept_languages.best_match(languages()) or languages()[0]


def language() -> str:
    return str(get_locale() or "en").split("_")[0]


def label(value: Any, fallback: str = "") -> str:
    """A YAML label in the current language (falls back to English, then any)."""
    return text(value, language(), fallback)


# Locales whose numbers read 1,234,567.891 (Babel's "#,##0.###"): formatted directly, which
# is ten times cheaper than Babel on a list page of hundreds of numbers.
PLAIN_NUMBERS = {"en", "zh"}


def plain_number(value: Any, places: int | None) -> str:
    number = Decimal(str(value))
    if places is not None:
        return f"{number.quantize(Decimal(1).scaleb(-places)):,.{places}f}"
    text = f"{number.quantize(Decimal('0.001')):,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt(value: Any, kind: str = "") -> str:
    """A stored value as the user should read it."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        from flask_babel import gettext

        return gettext("Yes") if value else gettext("No")
    if isinstance(value, datetime):
        return format_datetime(value, "short")
    if isinstance(value, date):
        return format_date(value, "medium")
    if isinstance(value, (Decimal, float)) or kind in ("decimal", "money", "percent"):
        if language() in PLAIN_NUMBERS:
            return plain_number(value, 2 if kind == "money" else None)
        return format_decimal(value, format="#,##0.00" if kind == "money" else None)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.globals["language"] = language
    app.jinja_env.globals["Markup"] = Markup
