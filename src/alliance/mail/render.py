"""E-mails in the recipient's language: Jinja2 text templates, the UI's gettext catalogs,
money and dates formatted by Babel for that language.

A mail is rendered when it is queued, often in the middle of a web request that has its own
language (the inviter's): the rendering runs in a copy of the context with the recipient's
language active, so the request's language is untouched and everything the template calls —
`_()`, the filters, `web.payouts_common.reasons_in_words` — speaks the recipient's.

Each template under `templates/` extends `_layout.txt` and fills two blocks: `subject` (one
line) and `body`. Strings are marked like in the page templates (`_()`, `{% trans %}`,
trimmed), and `babel.cfg` lists the folder, so `tools/i18n.py extract` finds them.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_interval
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from alliance.settings import get_settings
from alliance.web import i18n, terms

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_NETWORK = "Alliance"


@dataclass(frozen=True, slots=True)
class Rendered:
    locale: str
    subject: str
    text: str


def money(value: Decimal | int | str, currency: str) -> str:
    """An amount in the active language's format, with its own currency's minor units."""
    locale = i18n.format_locale(i18n.current())
    text = format_currency(Decimal(value), currency, locale=locale, currency_digits=True)
    # "SEK 1,250.00", never "SEK1,250.00" (as on the pages: web/templating.py).
    return re.sub(r"^(-?)([A-Z]{3})(?=\d)", "\\1\\2\u00a0", text)


def day(value: date) -> str:
    return format_date(value, "medium", locale=i18n.format_locale(i18n.current()))


def days(start: date, end: date) -> str:
    """A period as the language writes a range of days ("Mar 1 - 31, 2031" in English)."""
    return format_interval(start, end, "yMMMd", locale=i18n.format_locale(i18n.current()))


def network_name() -> str:
    """The name mails sign with: the display name of ALLIANCE_MAIL_FROM."""
    name, _address = parseaddr(get_settings().mail_from)
    return name.strip() or DEFAULT_NETWORK


def hold_reasons(stored: str) -> list[str]:
    """A payout's stored hold reasons (the service's English, "; "-joined) in the active
    language, by the table the pages use."""
    # Imported here: payouts_common imports the payout service, which queues these mails.
    from alliance.web.payouts_common import reasons_in_words

    return [reason.text for reason in reasons_in_words(stored)]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Plain text (text/plain mails, never HTML): nothing to escape, a partner named
        # "<b>" is shown as typed.
        autoescape=False,  # noqa: S701
        # Tags keep their line ends (no trim_blocks): a sentence on its own line stays a line;
        # the empty lines tags leave are folded by `_render`.
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.translations(i18n.current()).gettext(message),
        lambda singular, plural, n: i18n.translations(i18n.current()).ngettext(singular, plural, n),
        newstyle=True,
    )
    env.filters.update(money=money, day=day)
    env.globals.update(days=days, role_label=terms.role_label, hold_reasons=hold_reasons)
    return env


def _render(template_name: str, locale: str, values: dict[str, Any]) -> Rendered:
    box = i18n.activate(locale)
    template = environment().get_template(template_name)
    context = template.new_context({"network": network_name(), **values})
    # One line; a no-break space (between an amount and its currency) stays one.
    subject = re.sub(r"[ \t\r\n]+", " ", "".join(template.blocks["subject"](context))).strip()
    text = template.render({"network": network_name(), **values})
    # Paragraphs are separated by one empty line, whatever the template's blocks left.
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return Rendered(box.locale, subject, text)


def render(template_name: str, locale: str | None, **values: Any) -> Rendered:
    """The subject and text of a mail in `locale` (English when it is not one we have)."""
    chosen = locale if locale and i18n.is_supported(locale) else i18n.DEFAULT
    return contextvars.copy_context().run(_render, template_name, chosen, values)
