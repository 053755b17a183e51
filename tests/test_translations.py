"""The Japanese translation: complete, compiled, used; and no template shows English that is not marked for it."""

import ast
import gettext
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.template.loader import render_to_string
from django.utils import translation

from chat import services
from chat.forms import MessageForm

LOCALE = Path(django_settings.BASE_DIR) / "locale"
PO = LOCALE / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
TEMPLATES = Path(django_settings.BASE_DIR) / "templates"


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: each a dict of its keywords (msgctxt, msgid, msgid_plural, msgstr, msgstr[0]...)
    with their joined strings, and "flags" from its `#,` lines. Enough for the files makemessages writes."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set()}
        keyword = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[keyword] += ast.literal_eval(line)
            else:
                keyword, _, value = line.partition(" ")
                entry[keyword] = ast.literal_eval(value)
        entries.append(entry)
    return entries


def translations(entries: list[dict]) -> list[dict]:
    return [entry for entry in entries if entry["msgid"]]  # all but the header


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = po_entries(PO)
    assert not [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]]
    untranslated = [
        entry["msgid"]
        for entry in translations(entries)
        if not all(value for key, value in entry.items() if key.startswith("msgstr"))
    ]
    assert not untranslated
    assert len(translations(entries)) > 150


def test_the_header_says_japanese_with_one_plural_form():
    header = po_entries(PO)[0]
    assert header["msgid"] == ""
    assert "Language: ja\n" in header["msgstr"]
    assert "charset=UTF-8" in header["msgstr"]
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header["msgstr"]


def test_placeholders_survive_translation():
    """What a format string fills in, the translation has too (for entries without it, msgfmt's check below)."""
    placeholder = re.compile(r"%\(\w+\)[sdg]|\{\w+\}|<a href=\"%\(\w+\)s\">|</a>")
    for entry in translations(po_entries(PO)):
        translated = [value for key, value in entry.items() if key.startswith("msgstr")]
        for text in translated:
            assert sorted(placeholder.findall(text)) == sorted(placeholder.findall(entry["msgid"])), entry["msgid"]


def test_the_compiled_catalog_is_the_po_file():
    """locale/ja/LC_MESSAGES/django.mo was compiled from the .po as committed (`manage.py compilemessages`)."""
    with MO.open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    expected = {}
    for entry in translations(po_entries(PO)):  # the header's dates are msgfmt's business
        key = f"{entry['msgctxt']}\x04{entry['msgid']}" if "msgctxt" in entry else entry["msgid"]
        if "msgid_plural" in entry:
            expected[(key, 0)] = entry["msgstr[0]"]
        else:
            expected[key] = entry["msgstr"]
    del catalog[""]
    assert catalog == expected


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
def test_msgfmt_accepts_the_po_file(tmp_path):
    """msgfmt's own checks: the header, and the format strings of python-format entries."""
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(PO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def japanese(settings):
    """Japanese, from the project's locale/ (LOCALE_PATHS, given here as the settings will)."""
    settings.LOCALE_PATHS = [LOCALE]
    with translation.override("ja"):
        yield


def test_the_composer_speaks_japanese(japanese):
    html = render_to_string("chat/_composer.html", {"room": SimpleNamespace(slug="lobby"), "client_id": "x"})
    assert 'placeholder="メッセージを入力"' in html
    assert ">送信</button>" in html


def test_the_connection_status_and_presence_speak_japanese(japanese):
    status = render_to_string("chat/_status.html", {"state": "live"})
    assert "接続中&hellip;" in status and "再接続中&hellip;" in status
    presence = render_to_string("chat/_presence.html", {"names": ["Ann"], "more": 3})
    assert '<li class="more">ほか3人</li>' in presence


def test_typing_and_form_errors_speak_japanese(japanese):
    assert services.typing_text(["Ann"]) == "Annが入力中…"
    assert services.typing_text(["Cy", "Ann", "Bob"]) == "Ann、Bob、Cyが入力中…"
    assert services.typing_text(["a", "b", "c", "d"]) == "複数の人が入力中…"
    form = MessageForm({"message": " "})
    assert not form.is_valid()
    assert form.errors["message"] == ["メッセージを入力してから送信してください。"]


def test_english_stays_as_it_was(settings):
    settings.LOCALE_PATHS = [LOCALE]
    with translation.override("en"):
        assert services.typing_text(["Cy", "Ann", "Bob"]) == "Ann, Bob and Cy are typing…"
        html = render_to_string("chat/_composer.html", {"room": SimpleNamespace(slug="lobby"), "client_id": "x"})
        assert 'placeholder="Message"' in html and ">Send</button>" in html


# Templates: every visible word is inside a translate tag ---------------------------------------------------

# Attributes that a reader sees or hears.
SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}
# Markup that is not text: comments, blocktranslate blocks, the body's class names (base.html), other tags,
# variables.
NOT_TEXT = re.compile(
    r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}"
    r"|{%\s*block body_class\s*%}.*?{%\s*endblock\s*%}"
    r"|{#.*?#}"
    r"|{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}"
    r"|{%.*?%}"
    r"|{{.*?}}",
    re.DOTALL,
)
WORD = re.compile(r"[A-Za-z]{2,}")


class ShownText(HTMLParser):
    """Collects a page's text nodes and shown attributes (outside <script> and <style>)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden_depth += 1
        self.shown.extend(value for name, value in attrs if name in SHOWN_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.shown.append(data)


def untranslated_words(source: str) -> list[str]:
    parser = ShownText()
    parser.feed(NOT_TEXT.sub("", source))
    parser.close()
    return [text.strip() for text in parser.shown if WORD.search(text)]


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_shows_english_outside_translate_tags(path):
    assert untranslated_words(path.read_text(encoding="utf-8")) == []


def test_the_scan_finds_an_unmarked_word():
    assert untranslated_words('<p>{% translate "Hello" %} world</p>') == ["world"]
    assert untranslated_words('<button title="Close">{{ x }}</button>') == ["Close"]
    marked = "{# Note #}<b>{% blocktranslate %}Hi {{ n }}{% endblocktranslate %} &hellip; ☰</b>"
    assert untranslated_words(marked) == []
