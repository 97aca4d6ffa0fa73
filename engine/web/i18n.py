"""Languages: UI text from message catalogues (Flask-Babel), YAML labels `{en, zh}` in the
user's language, dates, numbers and money formatted for the locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import dates
from flask import Flask, g, request, session
from flask_babel import Babel, format_decimal, get_locale, get_timezone, get_translations
from markupsafe import Markup

from ..fields.numbers import edit_text
from ..messages import error_message, translated
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


def select_timezone() -> str:
    """The project's `timezone:` (tailor.yaml): dates and times on the pages, what a person
    types into a date-time input, and "today" on the home page are in it. Stored values stay UTC."""
    from .state import WebState

    return project_zone((WebState.of().model.spec.get("settings") or {}).get("timezone"))


@lru_cache(maxsize=16)
def project_zone(name: Any) -> str:
    """`name` when it is a time zone this machine knows, else UTC (`tailor check` reports it)."""
    from ..spec.checks import known_zone

    return name if isinstance(name, str) and known_zone(name) else "UTC"


# -- per-request caches ---------------------------------------------------------------------
# Flask-Babel looks the locale and the catalogue up again on every call; a list page makes
# hundreds of calls, so the request keeps them on `g` once chosen.
def _translations():
    found = g.get("_tailor_translations")
    if found is None:
        found = g._tailor_translations = get_translations()
    return found


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext`, with the catalogue looked up once per request."""
    translated = _translations().ugettext(string)
    return translated % variables if variables else translated


def pgettext(context: str, string: str, **variables: Any) -> str:
    """`gettext` for a text that reads differently in another place: English "Created" is
    创建时间 as a column and 创建 as what happened in a record's history."""
    translated = _translations().upgettext(context, string)
    return translated % variables if variables else translated


def say(value: Any) -> Any:
    """An engine message (engine/messages.py) in the reader's language: gettext of its id,
    then its parameters; a plain str (a rule's own message, already in the user's language)
    as it is."""
    return translated(value, _translations().ugettext, language())


def say_error(exc: BaseException) -> str:
    """What a refused operation says, in the reader's language (a ValidationError: its
    messages, each translated)."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {'; '.join(say(m) for m in v)}" if k else "; ".join(say(m) for m in v)
                         for k, v in errors.items())
    return say(error_message(exc))


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    return _translations().ungettext(singular, plural, num) % variables


def locale_name() -> str:
    found = g.get("_tailor_locale")
    if found is None:
        found = g._tailor_locale = str(get_locale() or "en")
    return found


def language() -> str:
    return locale_name().split("_")[0]


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


def fmt(value: Any, kind: str = "", locale: str | None = None) -> str:
    """A stored value as the user should read it (`locale`: the request's, when the caller
    formats many values and has it at hand)."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, datetime):
        return dates.format_datetime(value, "short", tzinfo=get_timezone(), locale=locale or locale_name())
    if isinstance(value, date):
        return _medium_date(value, locale or locale_name())
    if isinstance(value, (Decimal, float)) or kind in ("decimal", "money", "percent"):
        locale = locale or locale_name()
        if locale.split("_")[0] in PLAIN_NUMBERS:
            return plain_number(value, 2 if kind == "money" else None)
        return format_decimal(value, format="#,##0.00" if kind == "money" else None)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def edit_number(value: Any) -> str:
    """A stored number as an input shows it for editing: the user's decimal mark, no
    grouping (posted text is shown back as it was typed)."""
    if value is None or isinstance(value, str):
        return value or ""
    return edit_text(value)


@lru_cache(maxsize=4096)
def _medium_date(value: date, locale: str) -> str:
    """Dates repeat on a page and across pages: Babel formats each once per locale."""
    return dates.format_date(value, "medium", locale=locale)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.install_gettext_callables(gettext=lambda s: _translations().ugettext(s),
                                            ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
                                            newstyle=True)
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["fmt"] = fmt
    app.jinja_env.filters["say"] = say
    app.jinja_env.filters["edit_number"] = edit_number
    app.jinja_env.globals["language"] = language
    app.jinja_env.globals["Markup"] = Markup
