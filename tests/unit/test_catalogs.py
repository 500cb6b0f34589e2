"""Every message the console and the API's errors use is translated in every catalog, with the same placeholders."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from shared.i18n import LANGUAGES, catalog_path, gettext_for, negotiate
from shared.i18n.extract import used_messages

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_used_message_is_translated(language: str) -> None:
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=language)
    translated = {str(m.id): str(m.string) for m in catalog if m.id and m.string}
    used = used_messages()
    assert len(used) > 100  # the extraction found the templates and the code, not nothing
    missing = {msgid: files for msgid, files in used.items() if msgid not in translated}
    assert missing == {}, f"{language} lacks translations for {missing}"
    for msgid in used:
        assert set(PLACEHOLDER.findall(translated[msgid])) == set(PLACEHOLDER.findall(msgid)), msgid


def test_translations_are_served_from_the_po_files_without_a_build_step() -> None:
    assert gettext_for("ru", "Sign in") == "Войти"
    assert gettext_for("uz", "Sign in") == "Kirish"
    assert gettext_for("en", "Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("ru", "ru"),
        ("uz-UZ,ru;q=0.8", "uz"),
        ("de-DE,ru;q=0.5,uz;q=0.7", "uz"),
        ("ru;q=0.1,en;q=0.9", "en"),
        ("fr, de", "en"),
        ("ru;q=0, uz;q=0.2", "uz"),
        ("*;q=0.5, ru;q=bad", "en"),
    ],
)
def test_accept_language_is_negotiated_with_q_values(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected
