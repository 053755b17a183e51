"""What text the chat accepts: something visible, and names that cannot pass for someone else's.

Messages keep what was typed (fullwidth letters and halfwidth kana are how people
write Japanese), but must show something. Usernames and room names are normalised
(NFKC: "alpha" in fullwidth letters is alpha), may hold no invisible or
direction-changing characters, and may not mix scripts the way look-alikes do
("alice" spelt with a Cyrillic a): a name is one script, or one of the mixes that
a language writes (Unicode TR39's "highly restrictive" level: Japanese mixes Latin,
Han, Hiragana and Katakana).
"""

from __future__ import annotations

import unicodedata

import regex
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

# Characters that show nothing: format and control characters, default-ignorable code
# points (U+200B, U+3164 Hangul filler, ...), spaces, and the blank Braille pattern.
INVISIBLE = regex.compile(r"[\p{Cf}\p{Cc}\p{Default_Ignorable_Code_Point}\p{Z}\s\u2800]")
# Invisible characters that a name may not contain (its spaces are visible between words).
HIDDEN_IN_NAME = regex.compile(r"[\p{Cf}\p{Cc}\p{Default_Ignorable_Code_Point}\u2800]")
SCRIPTS = (
    "Latin Greek Cyrillic Armenian Hebrew Arabic Syriac Thaana Devanagari Bengali Gurmukhi Gujarati Oriya Tamil "
    "Telugu Kannada Malayalam Sinhala Thai Lao Tibetan Myanmar Georgian Hangul Ethiopic Cherokee Khmer Mongolian "
    "Hiragana Katakana Bopomofo Han"
).split()
SCRIPT_OF = [(name, regex.compile(rf"\p{{Script={name}}}")) for name in SCRIPTS]
# Mixes of scripts that a language writes with (TR39 "highly restrictive").
ALLOWED_MIXES = (
    {"Latin", "Han", "Hiragana", "Katakana"},
    {"Latin", "Han", "Bopomofo"},
    {"Latin", "Han", "Hangul"},
)


def has_visible_text(text: str) -> bool:
    return bool(INVISIBLE.sub("", text))


def scripts_of(text: str) -> set[str]:
    """The scripts of the text's letters and digits (shared characters such as digits and `-` belong to none)."""
    found = set()
    for char in text:
        if not char.isalnum():
            continue
        script = next((name for name, pattern in SCRIPT_OF if pattern.match(char)), None)
        if script is not None:
            found.add(script)
        elif not regex.match(r"[\p{Script=Common}\p{Script=Inherited}]", char):
            found.add(f"other:{unicodedata.name(char, '?').split()[0]}")
    return found


def clean_name(value: str, what: str) -> str:
    """A username or room name as stored; raises ValidationError saying what is wrong with it."""
    name = unicodedata.normalize("NFKC", value).strip()
    if HIDDEN_IN_NAME.search(name):
        raise ValidationError(
            gettext("%(what)s cannot contain invisible or text-direction characters."),
            code="invisible",
            params={"what": what},
        )
    if not has_visible_text(name):
        raise ValidationError(gettext("%(what)s must contain letters or digits."), code="empty", params={"what": what})
    scripts = scripts_of(name)
    if len(scripts) > 1 and not any(scripts <= mix for mix in ALLOWED_MIXES):
        raise ValidationError(
            gettext("%(what)s mixes alphabets (%(scripts)s): it could pass for another name. Use one alphabet."),
            code="mixed_scripts",
            params={"what": what, "scripts": ", ".join(sorted(scripts))},
        )
    return name
