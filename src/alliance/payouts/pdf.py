"""The page machinery of payout documents: fonts that can show a partner's name, page x of y.

Partners' names and addresses come in any script, and PDF's built-in fonts (Helvetica…) know
only Latin-1. So a document is set in a Unicode TrueType font, DejaVu Sans by default (Latin,
Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic letters…). DejaVu has no Chinese, Japanese
or Korean glyphs: when a document holds such characters, the first CJK font found among
`DEFAULT_FONTS.fallbacks` is loaded for them (loading a CJK font costs a second or more, so
only documents that need one pay for it). A character no loaded font can show is printed as
U+FFFD "�" rather than silently dropped, and logged once.

When the Unicode font itself is missing (a machine without fonts-dejavu-core), the documents
fall back to the core Helvetica in Windows-1252, accents folded where they can be ("Łódź" →
"?ódz"), everything else "?", with a warning: a readable document beats a failed payout.

Arabic and other joining scripts are printed letter by letter (no shaping: that needs
uharfbuzz, which is not a dependency). docs/payouts-documents.md says all this for operators.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.fonts import TTFFont

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FontFile:
    """A TrueType/OpenType font file, and which face when it is a collection (.ttc)."""

    path: Path
    index: int = 0


@dataclass(frozen=True, slots=True)
class DocumentFonts:
    """The fonts a document is set in: a Unicode regular face, its bold (the regular one
    stands in when it is missing), and fonts tried in order for characters those lack."""

    regular: FontFile
    bold: FontFile | None = None
    fallbacks: tuple[FontFile, ...] = ()


_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")  # Debian/Ubuntu: fonts-dejavu-core
# The documents' fonts. Change them here (or pass `fonts=` to the renderers): the paths are
# those of Debian and Ubuntu packages, tried at render time, so a missing file only costs the
# scripts it would have shown.
DEFAULT_FONTS = DocumentFonts(
    regular=FontFile(_DEJAVU / "DejaVuSans.ttf"),
    bold=FontFile(_DEJAVU / "DejaVuSans-Bold.ttf"),
    fallbacks=(
        # Chinese, Japanese, Korean. Noto's collection: face 2 is Simplified Chinese.
        FontFile(
            Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2
        ),  # fonts-noto-cjk
        FontFile(Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"), 2),  # Fedora
        FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")),  # fonts-wqy-microhei
        FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),  # fonts-wqy-zenhei
        FontFile(Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
    ),
)

FAMILY = "doc"
PLAIN_FAMILY = "docplain"  # the regular face again, as a fallback for bold text
CORE_FAMILY = "helvetica"
CORE_ENCODING = "windows-1252"  # Latin-1 plus €, quotes and dashes
REPLACEMENT = "\ufffd"
# Characters the core font lacks that have a plain stand-in (Babel writes some of them).
_CORE_STAND_INS = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\u2010": "-",
        "\u2011": "-",  # non-breaking hyphen
        "\u2009": " ",  # thin space
        "\u202f": " ",  # narrow no-break space (group separator of some locales)
        "\u200e": None,  # left-to-right mark (some locales' percent and currency patterns)
        "\u200f": None,
    }
)

_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: object, exc_info: bool = False) -> None:
    """Warn about a font problem once per process: a payout run renders thousands of PDFs."""
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args, exc_info=exc_info)


def core_text(text: str) -> str:
    """`text` in what the core Helvetica can show: stand-ins, accents folded, else "?"."""
    out: list[str] = []
    for char in text.translate(_CORE_STAND_INS):
        try:
            char.encode(CORE_ENCODING)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        try:
            base.encode(CORE_ENCODING)
            out.append(base or "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


class Sheet(FPDF):
    """An A4 document with a running header from page 2 and "page x of y" in every footer.

    All text goes through `show()`, which returns what the loaded fonts can print.
    """

    def __init__(
        self, fonts: DocumentFonts, *, orientation: Literal["portrait", "landscape"]
    ) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self._covered: frozenset[int] = frozenset()
        self._regular: FontFile | None = None
        self._bold_gaps: frozenset[int] = frozenset()  # in the regular face, not in the bold
        self._pending_fallbacks: tuple[FontFile, ...] = ()
        self._fallback_families: list[str] = []
        self.unicode = self._load_fonts(fonts)
        self._running_header = ""
        self._footer_left = ""
        self._page_label: Callable[[int, str], str] = lambda page, pages: f"{page} / {pages}"
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def furnish(
        self, *, running_header: str, footer_left: str, page_label: Callable[[int, str], str]
    ) -> None:
        """What every page shows: a header from page 2, the footer's left text, and the
        "page x of y" label (given the page number and the alias of the page count)."""
        self._running_header = self.show(running_header)
        self._footer_left = self.show(footer_left)
        self._page_label = page_label

    # --- fonts ------------------------------------------------------------------------------

    def _add(self, family: str, style: Literal["", "B"], font: FontFile) -> frozenset[int]:
        self.add_font(family, style, font.path, collection_font_number=font.index)
        loaded = self.fonts[f"{family.lower()}{style}"]  # fpdf2's key for a family and style
        return frozenset(loaded.cmap) if isinstance(loaded, TTFFont) else frozenset()

    def _load_fonts(self, fonts: DocumentFonts) -> bool:
        """Register the Unicode fonts; False (core Helvetica) when the regular one fails."""
        if not fonts.regular.path.is_file():
            _warn_once(
                str(fonts.regular.path),
                "PDF font %s not found: payout documents use Helvetica, which shows Latin-1 "
                "only (install fonts-dejavu-core or set alliance.payouts.pdf.DEFAULT_FONTS)",
                fonts.regular.path,
            )
            self.core_fonts_encoding = CORE_ENCODING
            return False
        try:
            covered = self._add(FAMILY, "", fonts.regular)
        except Exception:  # noqa: BLE001 - an unreadable font file must not stop a payout
            _warn_once(
                f"bad:{fonts.regular.path}",
                "PDF font %s cannot be read: payout documents use Helvetica (Latin-1 only)",
                fonts.regular.path,
                exc_info=True,
            )
            self.core_fonts_encoding = CORE_ENCODING
            return False
        bold = fonts.bold if fonts.bold is not None and fonts.bold.path.is_file() else None
        try:
            bold_covered = self._add(FAMILY, "B", bold or fonts.regular)
        except Exception:  # noqa: BLE001 - same as above; the regular face stands in
            _warn_once(f"bad:{bold}", "PDF bold font %s cannot be read", bold, exc_info=True)
            bold_covered = self._add(FAMILY, "B", fonts.regular)
        self._covered = covered
        self._regular = fonts.regular
        self._bold_gaps = covered - bold_covered
        self._pending_fallbacks = fonts.fallbacks
        return True

    def _use_fallbacks(self, family: str) -> None:
        self._fallback_families.append(family)
        # exact_match=False: a regular-only face also serves bold text. Set only when needed:
        # with fallback fonts fpdf2 reads text character by character, which is slower.
        self.set_fallback_fonts(self._fallback_families, exact_match=False)

    def _fill_bold_gaps(self) -> None:
        """Let bold text take the glyphs its face lacks from the regular face (DejaVu Sans Bold
        lacks some Arabic forms the regular face has): the regular file, as a fallback."""
        assert self._regular is not None
        self._bold_gaps = frozenset()
        try:
            self._add(PLAIN_FAMILY, "", self._regular)
        except Exception:  # noqa: BLE001 - it was read once already; bold keeps its gaps
            return
        self._use_fallbacks(PLAIN_FAMILY)

    def _load_fallbacks(self, missing: set[str]) -> None:
        """Load fallback fonts, in order, until `missing` is covered or none is left."""
        pending, self._pending_fallbacks = self._pending_fallbacks, ()
        for number, font in enumerate(pending):
            if not missing:
                break
            if not font.path.is_file():
                continue
            family = f"fallback{number}"
            try:
                covered = self._add(family, "", font)
            except Exception:  # noqa: BLE001 - a broken fallback only costs its script
                _warn_once(f"bad:{font.path}", "PDF fallback font %s cannot be read", font.path)
                continue
            self._use_fallbacks(family)
            self._covered |= covered
            missing = {c for c in missing if ord(c) not in covered}

    def covers(self, text: str) -> bool:
        """Whether every character of `text` can be shown (loads fallback fonts if needed)."""
        if not self.unicode:
            return core_text(text) == text.translate(_CORE_STAND_INS)
        if self._bold_gaps and any(ord(c) in self._bold_gaps for c in text):
            self._fill_bold_gaps()
        missing = {c for c in text if ord(c) not in self._covered and c not in "\n\r\t"}
        if missing and self._pending_fallbacks:
            self._load_fallbacks(missing)
            missing = {c for c in missing if ord(c) not in self._covered}
        return not missing

    def show(self, text: str) -> str:
        """`text` as the loaded fonts can print it (see the module's docstring)."""
        if not self.unicode:
            return core_text(text)
        if self.covers(text):
            return text
        missing = sorted({c for c in text if ord(c) not in self._covered and c not in "\n\r\t"})
        _warn_once(
            "missing:" + "".join(missing),
            "PDF fonts lack %s: printed as %s (install a font for that script, e.g. "
            "fonts-noto-cjk for Chinese, Japanese and Korean)",
            ", ".join(f"U+{ord(c):04X}" for c in missing),
            REPLACEMENT,
        )
        stand_in = REPLACEMENT if ord(REPLACEMENT) in self._covered else "?"
        return "".join(stand_in if c in missing else c for c in text)

    def use(self, size: float, *, bold: bool = False) -> None:
        self.set_font(FAMILY if self.unicode else CORE_FAMILY, "B" if bold else "", size)

    # --- page furniture ---------------------------------------------------------------------

    def header(self) -> None:
        if self.page_no() > 1:
            self.use(7.5)
            self.set_text_color(90)
            self.cell(0, 4, self._running_header, new_x="LMARGIN", new_y="NEXT")
            self.ln(3)
            self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.use(7.5)
        self.set_text_color(90)
        width = self.epw / 2
        self.cell(width, 4, self._footer_left)
        label = self.show(self._page_label(self.page_no(), self.str_alias_nb_pages or "{nb}"))
        self.cell(width, 4, label, align="R")
        self.set_text_color(0)
