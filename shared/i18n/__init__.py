"""Languages (en, ru, uz) from gettext catalogs: the console's words and the API's problem+json texts.

The .po files are the source; they are compiled in memory the first time a language is asked for, so an
editable install on a fresh machine needs no build step.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "ru", "uz")
DEFAULT = "en"
DOMAIN = "billing"
LOCALES = Path(__file__).parent / "locales"


def N_(message: str) -> str:
    return message


def catalog_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The language's compiled catalog; English is the msgids themselves."""
    if language not in LANGUAGES or language == DEFAULT:
        return gettext.NullTranslations()
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext_for(language: str, message: str) -> str:
    return translations(language).gettext(message)


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (q-values honoured; `*` and unknowns ignored)."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        fields = [f.strip() for f in part.split(";")]
        tag = fields[0].lower().split("-")[0].split("_")[0]
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag in LANGUAGES and 0 < quality <= 1:
            ranked.append((-quality, position, tag))
    return min(ranked)[2] if ranked else DEFAULT
