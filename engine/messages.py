"""Engine messages a user reads, kept translatable: a `Message` is the English text (a `str`,
so every caller, test and log that compares or prints it keeps working) that also carries
its message id (the English template, `%(name)s` placeholders) and the parameters.

A page shows it in the reader's language (`say`: gettext of the id, then the parameters);
the API, the CLI and the logs keep the English text. One catalogue serves them all
(engine/web/translations), the same the pages and notifications use; imports keep their
problems the same way (engine/imports/messages.py `Problem`, built on `render` here).

Mark each template with `N_()` so `pybabel extract` (babel.cfg) finds it:

    REQUIRED = N_("is required")
    raise FieldValueError(message(N_("'%(value)s' is not a number"), value=shown))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from babel.support import Translations

TRANSLATIONS = os.path.join(os.path.dirname(__file__), "web", "translations")


def N_(text: str) -> str:  # noqa: N802 - the name message extraction looks for
    """Marks a template for extraction; the text is translated where it is shown."""
    return text


@lru_cache(maxsize=8)
def translations(language: str) -> Translations:
    """The catalogue of a language (English: the ids themselves)."""
    return Translations.load(TRANSLATIONS, [language])


class Message(str):
    """English text that knows its template and parameters (see the module's docstring).
    Parameters may be Messages themselves ("primary: <why>"): they are translated too."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: Mapping[str, Any] | None = None) -> Message:
        params = dict(params or {})
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    def __reduce__(self):  # pickled (job payloads, caches) with its id and parameters
        return (Message, (self.msgid, self.params))

    def translated(self, gettext: Callable[[str], str], language: str = "") -> str:
        """The text through `gettext` (a catalogue's `ugettext`), parameters included
        (`language`: the one gettext speaks, for parameters that are project labels)."""
        return render(self.msgid, {k: translated(v, gettext, language) for k, v in self.params.items()}, gettext)

    def text(self, language: str = "en") -> str:
        return str(self) if language == "en" else self.translated(translations(language).ugettext, language)


class Localized(str):
    """A project's label inside a message (a transition, an entity): the English text, and
    the label in each language the project gives (`texts`: {"en": …, "zh": …})."""

    texts: dict[str, str]

    def __new__(cls, texts: Mapping[str, str], english: str | None = None) -> Localized:
        self = super().__new__(cls, english if english is not None else texts.get("en", ""))
        self.texts = dict(texts)
        return self

    def __reduce__(self):
        return (Localized, (self.texts, str(self)))

    def translated(self, gettext: Callable[[str], str], language: str = "") -> str:
        return self.texts.get(language) or str(self)


def message(template: str, /, **params: Any) -> Message:
    """A Message of `template` (marked with N_) and its parameters."""
    return Message(template, params)


def render(msgid: str, params: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    """`gettext(msgid) % params`; a translation whose placeholders do not fit falls back to
    the English template rather than failing the page."""
    template = gettext(msgid)
    if not params:
        return template
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return msgid % params


def translated(value: Any, gettext: Callable[[str], str], language: str = "") -> Any:
    """A Message (or a Localized label) through `gettext`; anything else (a plain str: a
    rule's message already in the user's language) unchanged."""
    return value.translated(gettext, language) if isinstance(value, (Message, Localized)) else value


def say(value: Any, language: str) -> Any:
    """`translated` in a language named by its code (outside a request: CLI, jobs, mail)."""
    if language == "en" or not isinstance(value, (Message, Localized)):
        return value
    return value.translated(translations(language).ugettext, language)


def error_message(exc: BaseException) -> str:
    """What an error says, a Message when it was raised with one (`str(exc)` is plain)."""
    found = getattr(exc, "message", None)
    if isinstance(found, str) and found:
        return found
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Message) else str(exc)
