"""The UI's message catalogs: extract the marked strings, update the .po files, check them.

    python tools/i18n.py extract   # sources → src/alliance/web/locale/messages.pot → each .po
    python tools/i18n.py check     # exit 1 if a .po is stale or lacks a translation

Marked strings: `_()`, `ngettext()`, `N_()` in src/alliance/web/*.py and `_()`, `ngettext()`,
`{% trans %}` in the templates (babel.cfg says where). The .po files are the source of truth
and are compiled in memory when the server starts (alliance/web/i18n.py): no .mo to build.
"""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "src" / "alliance" / "web" / "locale"
POT = LOCALE_DIR / "messages.pot"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
TRANSLATED = ("de", "sv", "es", "zh_Hans")


def extract() -> Catalog:
    """Every marked string of the sources, as a template catalog (no locations: stable diffs)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(project="Alliance", msgid_bugs_address="", charset="utf-8")
    for _filename, _lineno, message, comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=KEYWORDS,  # type: ignore[arg-type]
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    ):
        template.add(message, None, [], auto_comments=comments, context=context)
    return template


def _po_bytes(catalog: Catalog) -> bytes:
    buffer = BytesIO()
    write_po(buffer, catalog, omit_header=False, no_location=True, sort_output=True, width=100)
    return buffer.getvalue()


def read_catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def update(template: Catalog) -> None:
    POT.write_bytes(_po_bytes(template))
    for locale in TRANSLATED:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
        if path.exists():
            catalog = read_catalog(locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="Alliance", charset="utf-8")
        # no_fuzzy_matching: a changed English string must be translated again, not guessed.
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        path.write_bytes(_po_bytes(catalog))


def problems() -> list[str]:
    """What is wrong with the catalogs: stale against the sources, or untranslated."""
    template = extract()
    wanted = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in template if m.id}
    found: list[str] = []
    for locale in TRANSLATED:
        catalog = read_catalog(locale)
        have = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in catalog if m.id}
        found += [f"{locale}: not in the catalog (run extract): {k[0]!r}" for k in wanted - have]
        found += [f"{locale}: no longer in the sources: {k[0]!r}" for k in have - wanted]
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                found.append(f"{locale}: untranslated: {message.id!r}")
        for message, errors in catalog.check():
            found += [f"{locale}: {message.id!r}: {error}" for error in errors]
    return found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "extract":
        update(extract())
        return 0
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
