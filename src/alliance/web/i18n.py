"""The language of the pages: which locale a request gets, and the translated strings.

A request's locale is, in order: the signed-in user's setting (`users.locale`), else the
browser's Accept-Language negotiated by Babel against the languages we have catalogs for,
else English. The choice lives in a context variable holding a small mutable box: the ASGI
middleware puts the browser's choice in the box before the app runs, and the viewer
dependency (which is where we learn who the user is) overwrites it with the user's setting.
A box rather than a plain value because FastAPI runs sync dependencies and handlers in
worker threads with *copies* of the context: a copy shares the box, so the handler and the
template see what the dependency decided.

Catalogs are the `.po` files in `locale/` (the source of truth, reviewed as text). They are
compiled in memory the first time a language is used, so there is no `.mo` to build or to
forget to rebuild — see docs/adr/0012-localization.md.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.types import ASGIApp, Receive, Scope, Send

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"

# The languages of the UI: identifier → its name in itself (shown in the language menu,
# untranslated on purpose: a reader looks for their own language's name).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "sv": "Svenska",
    "es": "Español",
    "zh_Hans": "简体中文",
}
# The locale whose numbers, money and dates a language uses (CLDR data of its main country).
FORMAT_LOCALES: dict[str, str] = {
    "en": "en_US",
    "de": "de_DE",
    "sv": "sv_SE",
    "es": "es_ES",
    "zh_Hans": "zh_Hans_CN",
}
# Accept-Language tags → our identifiers. Babel negotiates on these spellings; Chinese
# browsers send zh-CN / zh-Hans / zh-SG (simplified) or zh-TW / zh-HK (traditional, which we
# do not have: they fall through to the next language or English).
_ACCEPTED: dict[str, str] = {
    "en": "en",
    "de": "de",
    "sv": "sv",
    "es": "es",
    "zh_Hans": "zh_Hans",
    "zh_CN": "zh_Hans",
    "zh_SG": "zh_Hans",
    "zh": "zh_Hans",
}
# Traditional Chinese: Babel would fall back from zh-TW to "zh", i.e. to simplified Chinese,
# which a Taiwanese or Hong Kong reader did not ask for.
_TRADITIONAL = ("zh_hant", "zh_tw", "zh_hk", "zh_mo")


def is_supported(locale: str | None) -> bool:
    return locale in LANGUAGES


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog of a language (English is the source text: no catalog needed)."""
    if locale == DEFAULT or locale not in LANGUAGES:
        return _gettext.NullTranslations()
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    buffer = BytesIO()
    # Fuzzy entries are guesses awaiting review: left out, so the English shows instead.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def format_locale(locale: str) -> Locale:
    return Locale.parse(FORMAT_LOCALES.get(locale, FORMAT_LOCALES[DEFAULT]))


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an Accept-Language header; English when none fits."""
    if not accept_language:
        return DEFAULT
    preferred: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            # Stable order among equal weights: earlier in the header wins.
            preferred.append((-quality + position * 1e-6, tag.strip().replace("-", "_")))
    tags = [tag for _, tag in sorted(preferred) if not tag.lower().startswith(_TRADITIONAL)]
    found = negotiate_locale(tags, list(_ACCEPTED), sep="_")
    return _ACCEPTED[found] if found else DEFAULT


@dataclass
class RequestLocale:
    """The locale of the request being served (mutable: see the module docstring)."""

    locale: str = DEFAULT
    from_user: bool = False


_current: ContextVar[RequestLocale | None] = ContextVar("alliance_locale", default=None)


def current() -> str:
    box = _current.get()
    return box.locale if box is not None else DEFAULT


def use_user_setting(setting: str | None) -> None:
    """Called once the viewer is known: their setting, when they made one, beats the browser."""
    box = _current.get()
    if box is not None and is_supported(setting):
        box.locale = setting  # type: ignore[assignment]
        box.from_user = True


def activate(locale: str) -> RequestLocale:
    """Use `locale` in this context (tests, CLI); returns the box for inspection."""
    box = RequestLocale(locale if is_supported(locale) else DEFAULT)
    _current.set(box)
    return box


class LocaleMiddleware:
    """Sets the request's locale from Accept-Language before the pages run."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"),
                None,
            )
            token = _current.set(RequestLocale(negotiate(header)))
            try:
                await self.app(scope, receive, send)
            finally:
                _current.reset(token)
        else:
            await self.app(scope, receive, send)


# --- the translation functions ---------------------------------------------------------------
# `_` and `ngettext` format with %(name)s placeholders when given keyword arguments, like
# Jinja's "newstyle" gettext: one convention for templates and Python, and a translator can
# move a placeholder where their grammar wants it.


def _format(text: str, values: Mapping[str, Any]) -> str:
    return text % values if values else text


def gettext(message: str, **values: Any) -> str:
    return _format(translations(current()).gettext(message), values)


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    values.setdefault("num", n)
    return _format(translations(current()).ngettext(singular, plural, n), values)


def pgettext(context: str, message: str, **values: Any) -> str:
    return _format(translations(current()).pgettext(context, message), values)


_ = gettext


def options(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(value, label) choices of a form, with the labels (marked N_) translated now."""
    return [(value, gettext(label)) for value, label in pairs]


def N_(message: str) -> str:
    """Marks a string for the catalogs without translating it now (module-level constants);
    the page translates it when shown, with `_()` or the template's `_()`."""
    return message
