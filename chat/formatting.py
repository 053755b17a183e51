"""Formatting: a message's Markdown, rendered to HTML once, when it is stored or edited (Message.body_html).

A small, chat-sized subset of CommonMark (markdown-it-py): **bold**, *italic*, ~~strike~~,
`code`, fenced code blocks, > quotes, lists, [links](https://…) and links found in the text
(linkify-it-py). Every new line is a line break, as people type in a chat. Left out on
purpose: raw HTML, images, headings (`#1` and `# ` start ordinary chat lines), rules (`---`),
tables, reference links, and indented code blocks (four leading spaces are too easy to type
by accident; fences are explicit). Whatever is left out shows as the text that was typed.

Links go only to http, https and mailto addresses; any other `[text](…)` stays text. Every
link opens a new tab with `rel="nofollow noopener noreferrer"`. `@name` becomes the same
mention link the plain-text partial draws (`<a class="mention" data-user="…">`, styled for
its reader by /me.css) anywhere in the text except inside code and links.

The HTML then goes through nh3 (ammonia) with an explicit allow-list: a second line of
defence, should a rule above ever let something through.

Japanese: a link found in the text ends before the first Chinese or Japanese character or
full-width punctuation mark ("https://example.com/を見て" links https://example.com/).
Browsers copy addresses percent-encoded, so such a character is nearly always the sentence
going on; an address that does contain one is written <https://…/日本語> or [text](https://…).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import cast

import nh3
import regex
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from . import mentions, text

SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# Where the mention links of a message not stored yet point until its id is known (Formatted.for_message).
NEW_MESSAGE = "new"
_NEW_MESSAGE_HREF = f'href="#message-{NEW_MESSAGE}"'

# A character text.has_visible_text counts as visible: finding one stops at the first (a few µs, where
# has_visible_text's removal of the invisible ones costs 75 µs for 2,000 characters).
_VISIBLE = regex.compile(text.INVISIBLE.pattern.replace("[", "[^", 1))
_BLOCK_STARTS = ("<p>", "<ul>", "<ol>", "<ol ", "<pre>", "<blockquote>")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_MESSAGE_ANCHOR = re.compile(rf"#message-(?:\d+|{NEW_MESSAGE})")
# Chinese and Japanese characters and punctuation (CJK symbols, kana, kanji, Hangul, full-width forms).
_CJK = (
    "\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
)
# A stretch of text without spaces or CJK characters...
_STRETCH = re.compile(rf"[^\s{_CJK}]*")
# ... that may hold a link if it has a scheme's "://", an e-mail's "@", or a host's dot before its top-level domain.
_MARKER = re.compile(rf"://|@|\.[^\W\d_{_CJK}]")


@dataclass(frozen=True)
class Formatted:
    html: str  # sanitized; safe to show as it is
    mentioned: tuple[int, ...]  # user ids mentioned outside code, each once, in order

    def for_message(self, message_id: int) -> str:
        """The HTML with its mention links pointing at the stored message (render() without a message id)."""
        if not self.mentioned:
            return self.html
        return self.html.replace(_NEW_MESSAGE_HREF, f'href="#message-{message_id}"')


def render(body: str, people: Iterable = (), message_id: int | None = None) -> Formatted:
    """The body as HTML, with mentions of `people` (users who can see the room) linked.

    Without `message_id` (a message about to be stored) mention links point at a placeholder
    that Formatted.for_message replaces.
    """
    names = mentions.names_of(people) if "@" in body else []
    return render_with_names(body, names, message_id)


def render_with_names(body: str, names: list[tuple[str, int]], message_id: int | None = None) -> Formatted:
    """render() for names already listed as mentions.names_of lists them (the data migration has no users' methods)."""
    env: dict = {"names": names, "mentioned": {}, "message_id": NEW_MESSAGE if message_id is None else message_id}
    tokens = _MARKDOWN.parse(body, env)
    if not _shows_text(tokens):  # "-" or "> " alone would be an empty list or quote: show what was typed
        return Formatted(escape(body).replace("\n", "<br>\n"), ())
    if [token.type for token in tokens] == ["paragraph_open", "inline", "paragraph_close"]:
        # One paragraph, by far the most common message: its text alone, like the plain partial's.
        html = _RENDERER.renderInline(tokens[1].children or [], _MARKDOWN.options, env)
    else:
        html = _RENDERER.render(tokens, _MARKDOWN.options, env)
    return Formatted(_CLEANER.clean(html.strip()), tuple(env["mentioned"]))


def is_blocks(html: str) -> bool:
    """Whether rendered HTML is blocks (paragraphs, lists, quotes, code), else the text of one paragraph, which
    the message partial puts in its <p> as before formatting (a text never starts with "<": it is escaped)."""
    return html.startswith(_BLOCK_STARTS)


def _shows_text(tokens: list[Token]) -> bool:
    for token in tokens:
        if token.type == "fence" and _VISIBLE.search(token.content):
            return True
        for child in token.children or ():
            if child.type in ("text", "code_inline", "mention") and _VISIBLE.search(child.content):
                return True
    return False


# Links -------------------------------------------------------------------------------


def _allowed_link(url: str) -> bool:
    """Only absolute http, https and mailto addresses become links (markdown-it's validateLink)."""
    scheme = _SCHEME.match(url)
    return scheme is not None and scheme.group(1).lower() in SCHEMES


class _Linkify(LinkifyIt):
    """linkify-it without ftp: and protocol-relative links, run only on the stretches of text that may hold a link.

    linkify-it-py's patterns are slow on any text (its fuzzy host pattern is tried at every position):
    for 2,000 characters of plain English, 0.25 ms for its pretest, as much for test and 1.1 ms for match,
    which markdown-it calls in turn, where the whole Markdown render takes 0.03 ms. So it only sees the
    stretches without spaces around a "://", an "@" or a dot before a letter (a link never spans a space,
    so the links are the same). Chinese and Japanese characters end a stretch as a space does: a link
    ends before them and may start right after them (Japanese has no spaces between words).
    """

    def __init__(self) -> None:
        super().__init__(schemas={"ftp:": None, "//": None})

    def pretest(self, text: str) -> bool:
        return _MARKER.search(text) is not None

    def test(self, text: str) -> bool:
        # May say yes wrongly (markdown-it then finds no link in match()); linkify-it-py's own test() misses
        # links its match() finds ("example.com<").
        return _MARKER.search(text) is not None

    def match(self, text: str):
        links, reversed_text, covered = [], text[::-1], 0
        for marker in _MARKER.finditer(text):
            if marker.start() < covered:
                continue  # in the stretch of an earlier marker
            back = len(text) - marker.start()  # where the text before the marker starts, read backwards
            start = marker.start() - (_stretch_end(reversed_text, back) - back)
            covered = _stretch_end(text, marker.start())
            for link in super().match(text[start:covered]) or ():
                link.index += start
                link.last_index += start
                links.append(link)
        return links or None

    def match_at_start(self, text: str):
        return super().match_at_start(text[: _stretch_end(text, 0)])


def _stretch_end(text: str, start: int) -> int:
    """Where the stretch without spaces or Chinese and Japanese characters that begins at `start` ends."""
    found = _STRETCH.match(text, start)
    return found.end() if found else start


# Mentions ----------------------------------------------------------------------------


def _mentions(state: StateCore) -> None:
    """Core rule: `@name` in text becomes a mention token; code, fences and link texts are left alone."""
    names = state.env.get("names")
    if not names:
        return
    for block in state.tokens:
        if block.type != "inline" or "@" not in block.content or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for token in block.children:
            in_link += token.nesting if token.type in ("link_open", "link_close") else 0
            if token.type == "text" and not in_link and "@" in token.content:
                children.extend(_split_mentions(token, names, state.env["mentioned"]))
            else:
                children.append(token)
        block.children = children


def _split_mentions(token: Token, names: list[tuple[str, int]], mentioned: dict[int, None]) -> list[Token]:
    spans = mentions.find_names(token.content, names)
    if not spans:
        return [token]
    pieces, last = [], 0
    for span in spans:
        pieces.append(_text(token, token.content[last : span.start]))
        mention = Token("mention", "a", 0, content=token.content[span.start + 1 : span.end], level=token.level)
        mention.meta = {"user_id": span.user_id}
        pieces.append(mention)
        mentioned[span.user_id] = None
        last = span.end
    pieces.append(_text(token, token.content[last:]))
    return [piece for piece in pieces if piece.type == "mention" or piece.content]


def _text(like: Token, content: str) -> Token:
    return Token("text", "", 0, content=content, level=like.level)


# Rendering ---------------------------------------------------------------------------


def _render_mention(self, tokens: list[Token], idx: int, options, env: dict) -> str:
    token = tokens[idx]
    return (
        f'<a class="mention" href="#message-{env["message_id"]}" data-user="{token.meta["user_id"]}">'
        f"@{escapeHtml(token.content)}</a>"
    )


def _render_link_open(self, tokens: list[Token], idx: int, options, env: dict) -> str:
    tokens[idx].attrs.update({"target": "_blank", "rel": LINK_REL})
    return self.renderToken(tokens, idx, options, env)


def _render_fence(self, tokens: list[Token], idx: int, options, env: dict) -> str:
    # No language class: nothing highlights code here (that would take JavaScript or per-language CSS).
    return f"<pre><code>{escapeHtml(tokens[idx].content)}</code></pre>\n"


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "typographer": False})
    md.linkify = _Linkify()
    md.enable(["strikethrough", "linkify"])
    md.disable(["heading", "lheading", "hr", "code", "reference", "image", "html_block", "html_inline"])
    md.validateLink = _allowed_link  # type: ignore[method-assign]
    md.core.ruler.push("mention", _mentions)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("fence", _render_fence)
    return md


def _message_anchor_only(url: str) -> str | None:
    """Relative addresses: only a mention's link to its message (user links are absolute, by _allowed_link)."""
    return url if _MESSAGE_ANCHOR.fullmatch(url) else None


_MARKDOWN = _markdown()
_RENDERER = cast(RendererHTML, _MARKDOWN.renderer)
_CLEANER = nh3.Cleaner(
    tags={"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"},
    clean_content_tags={"script", "style"},
    attributes={"*": set(), "a": {"href", "data-user"}, "ol": {"start"}},
    tag_attribute_values={"a": {"target": {"_blank"}}},
    allowed_classes={"a": {"mention"}},
    link_rel=LINK_REL,
    url_schemes=set(SCHEMES),
    url_relative=_message_anchor_only,
)
