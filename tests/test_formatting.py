"""Formatting (chat/formatting.py): the Markdown subset, safe links, mentions outside code, stored with the message
and re-rendered on edit; the multi-line composer over the socket; existing messages rendered by the migration."""

import uuid
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from hypothesis import given, settings
from hypothesis import strategies as st

from chat import formatting, rooms, services
from chat.forms import MessageForm
from chat.models import Message, Profile

from .conftest import logged_in
from .sockets import drain, htmx_frame, open_socket, receive_all, receive_until

LINK_REL = "nofollow noopener noreferrer"
REL = f'rel="{LINK_REL}"'
NEW_TAB = f'target="_blank" {REL}'

# (typed, shown): what a message renders to, with no one to mention.
RENDERED = [
    ("plain words", "plain words"),
    (
        "**bold** *italic* _also_ ~~gone~~ `code`",
        "<strong>bold</strong> <em>italic</em> <em>also</em> <s>gone</s> <code>code</code>",
    ),
    (
        "**bold with *italic* and ~~strike~~ inside**",
        "<strong>bold with <em>italic</em> and <s>strike</s> inside</strong>",
    ),
    ("one\ntwo", "one<br>\ntwo"),
    ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
    ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
    ("> quoted\nstill quoted", "<blockquote>\n<p>quoted<br>\nstill quoted</p>\n</blockquote>"),
    ("look:\n```\ndef f():\n    return 1\n```", "<p>look:</p>\n<pre><code>def f():\n    return 1\n</code></pre>"),
    (
        "```python\n<b>not bold</b> <script>alert(1)</script>\n```",
        "<pre><code>&lt;b&gt;not bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>",
    ),
    ("`<img src=x onerror=alert(1)>`", "<code>&lt;img src=x onerror=alert(1)&gt;</code>"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    (
        "see https://example.com/a?b=1&c=2 now",
        f'see <a href="https://example.com/a?b=1&amp;c=2" {NEW_TAB}>https://example.com/a?b=1&amp;c=2</a> now',
    ),
    ("example.org", f'<a href="http://example.org" {NEW_TAB}>example.org</a>'),
    ("[the docs](https://example.com/docs)", f'<a href="https://example.com/docs" {NEW_TAB}>the docs</a>'),
    ("[write](mailto:ada@example.com)", f'<a href="mailto:ada@example.com" {NEW_TAB}>write</a>'),
    ("ada@example.com", f'<a href="mailto:ada@example.com" {NEW_TAB}>ada@example.com</a>'),
    (
        'http://a.b/"onmouseover="alert(1)',
        f'<a href="http://a.b/%22onmouseover=%22alert(1)" {NEW_TAB}>http://a.b/"onmouseover="alert(1)</a>',
    ),
    ('[x](http://a.b/"onmouseover="alert(1))', f'<a href="http://a.b/%22onmouseover=%22alert(1)" {NEW_TAB}>x</a>'),
    ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("[x](JaVaScRiPt:alert(1))", "[x](JaVaScRiPt:alert(1))"),
    ("[x](&#106;avascript:alert(1))", "[x](javascript:alert(1))"),
    ("[x](<javascript:alert(1)>)", "[x](&lt;javascript:alert(1)&gt;)"),
    ("<javascript:alert(1)>", "&lt;javascript:alert(1)&gt;"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](data:text/html;base64,PHNjcmlwdD4=)"),
    ("![img](https://example.com/a.png)", f'!<a href="https://example.com/a.png" {NEW_TAB}>img</a>'),  # no images
    ("[x](/admin/) [y](ftp://a.example) //example.com", "[x](/admin/) [y](ftp://a.example) //example.com"),
    ('[t](https://example.com "a title")', f'<a href="https://example.com" {NEW_TAB}>t</a>'),
    (
        "[x]: https://example.com\n[x]",
        '[x]: <a href="https://example.com" ' + NEW_TAB + ">https://example.com</a><br>\n[x]",
    ),
    # Left out of the subset: shown as typed.
    ("# 1 is not a heading", "# 1 is not a heading"),
    ("---", "---"),
    ("    four spaces", "four spaces"),
    ("-", "-"),
    # Japanese: a link found in the text ends where the sentence goes on.
    (
        "https://example.com/pageを見て",
        f'<a href="https://example.com/page" {NEW_TAB}>https://example.com/page</a>を見て',
    ),
    ("詳細はexample.comです。", f'詳細は<a href="http://example.com" {NEW_TAB}>example.com</a>です。'),
    (
        "「https://example.com」、ありがとう",
        f'「<a href="https://example.com" {NEW_TAB}>https://example.com</a>」、ありがとう',
    ),
    (
        "<https://ja.wikipedia.org/wiki/日本>",
        f'<a href="https://ja.wikipedia.org/wiki/%E6%97%A5%E6%9C%AC" {NEW_TAB}>https://ja.wikipedia.org/wiki/日本</a>',
    ),
    ("**太字**です ~~取り消し~~", "<strong>太字</strong>です <s>取り消し</s>"),
]


class Markup(HTMLParser):
    """The elements and attributes of some HTML, as a browser would build them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, name, value or "") for name, value in attrs)


ALLOWED_TAGS = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"}


def assert_inert(html: str) -> None:
    """Nothing in the HTML can run or load anything: allowed tags only, no event handler, links to the web only."""
    markup = Markup(html)
    assert set(markup.tags) <= ALLOWED_TAGS
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    for _tag, name, value in markup.attrs:
        assert not name.startswith("on") and name not in ("style", "src", "srcset")
        if name == "href":
            assert value.startswith(("https://", "http://", "mailto:", "#message-")), value
            # The scheme is what runs code ("javascript:alert(1)"); "http://javascript:" (hypothesis found it) is a
            # link to a host named javascript, inert.
            assert urlsplit(value).scheme in ("https", "http", "mailto", "") and '"' not in value
    links = [value for tag, name, value in markup.attrs if tag == "a" and name == "href"]
    if any(not href.startswith("#message-") for href in links):
        assert ("a", "target", "_blank") in markup.attrs and ("a", "rel", LINK_REL) in markup.attrs


@pytest.mark.parametrize(("typed", "shown"), RENDERED)
def test_the_markdown_subset_renders_as_expected_and_inert(typed, shown):
    html = formatting.render(typed).html
    assert html == shown
    assert_inert(html)


PIECES = [*"*_~`>-[]()<>!&#;:/\"' \n@ax1.éは", "javascript:", "http://", "data:", "```"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES)).map("".join))
def test_any_text_renders_inert(typed):
    assert_inert(formatting.render(typed).html)


# Mentions -----------------------------------------------------------------------------


@pytest.fixture
def class_room(make_user):
    hanako, ada_lovelace, alice = make_user("hanako"), make_user("adal"), make_user("alice")
    Profile.objects.filter(user=hanako).update(display_name="はなこ")
    Profile.objects.filter(user=ada_lovelace).update(display_name="Ada Lovelace")
    return rooms.create_room("Class", alice), hanako, ada_lovelace, alice


def mention(user, message) -> str:
    return f'<a class="mention" href="#message-{message.pk}" data-user="{user.pk}" {REL}>'


@pytest.mark.django_db
def test_mentions_work_inside_formatting_and_point_at_their_message(class_room):
    room, hanako, ada_lovelace, alice = class_room
    message = services.post_message(room, alice, "**@Ada Lovelace** and _@はなこさん_, see ~~@adal~~").message
    assert message.body_html == (
        f"<strong>{mention(ada_lovelace, message)}@Ada Lovelace</a></strong> and "
        f"<em>{mention(hanako, message)}@はなこ</a>さん</em>, see <s>{mention(ada_lovelace, message)}@adal</a></s>"
    )
    assert Message.objects.get(pk=message.pk).body_html == message.body_html  # stored as sent
    assert sorted(message.mentions.values_list("pk", flat=True)) == sorted([hanako.pk, ada_lovelace.pk])


@pytest.mark.django_db
def test_mentions_inside_code_or_link_text_are_not_mentions(class_room):
    room, _, _, alice = class_room
    body = "`@hanako` and [@adal](https://example.com)\n```\n@はなこさん\n```\nmail x@hanako.example"
    message = services.post_message(room, alice, body).message
    assert 'class="mention"' not in message.body_html
    assert "<code>@hanako</code>" in message.body_html and "<pre><code>@はなこさん\n</code></pre>" in message.body_html
    assert not message.mentions.exists()  # no mention badge either
    html = services.post_message(room, alice, "`@hanako` but also @hanako").message.body_html
    assert html.count('class="mention"') == 1 and "<code>@hanako</code>" in html


# Stored, edited, deleted --------------------------------------------------------------


def test_the_composer_form_keeps_a_code_blocks_indentation():
    typed = "\r\n```\r\n    indented()\r\n  half\r\n```\r\n  "
    form = MessageForm({"message": typed})
    assert form.is_valid()
    assert form.cleaned_data["message"] == "```\n    indented()\n  half\n```"
    html = formatting.render(form.cleaned_data["message"]).html
    assert html == "<pre><code>    indented()\n  half\n</code></pre>"


def test_a_message_of_markup_alone_shows_what_was_typed():
    assert MessageForm({"message": "- "}).is_valid()
    assert formatting.render("-").html == "-"
    assert formatting.render(">").html == "&gt;"
    assert formatting.render("```\n```").html == "```<br>\n```"


@pytest.mark.django_db
def test_an_edit_renders_the_message_again_and_a_delete_clears_it(room, people):
    _, alice, _ = people
    message = services.post_message(room, alice, "*draft* for @bob").message
    assert message.body_html.startswith("<em>draft</em> for ")
    edited = services.edit_message(message, alice, "- **final**\n- `code`")
    assert edited.body_html == "<ul>\n<li><strong>final</strong></li>\n<li><code>code</code></li>\n</ul>"
    assert not edited.mentions.exists()
    client = logged_in(alice)
    page = client.get(f"/chat/{room.slug}/messages/{message.pk}/").content.decode()
    assert f'<div class="message-body">{edited.body_html}</div>' in page
    form = client.get(f"/chat/{room.slug}/messages/{message.pk}/edit/").content.decode()
    assert "<textarea" in form and "- **final**\n- `code`</textarea>" in form  # its lines kept for editing
    deleted = services.delete_message(edited, alice)
    assert deleted.body_html == "" and Message.objects.get(pk=message.pk).body_html == ""


@pytest.mark.django_db(transaction=True)
async def test_an_edit_reaches_open_pages_formatted_anew(people, room):
    _, alice, bob = people
    message = await sync_to_async(lambda: services.post_message(room, alice, "plain").message)()
    b, _, _ = await open_socket(room.slug, bob)
    await drain(b)
    url = f"/chat/{room.slug}/messages/{message.pk}/edit/"
    client = await sync_to_async(logged_in)(alice)
    response = await sync_to_async(client.post)(url, {"message": "now **bold**\n> and quoted"})
    assert response.status_code == 200
    frame = await receive_until(b, f'id="message-{message.pk}"')
    assert '<div class="message-body"><p>now <strong>bold</strong></p>\n<blockquote>\n<p>and quoted</p>' in frame
    await b.disconnect()


# The multi-line composer --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_multi_line_composer_sends_like_the_one_line_one_and_comes_back_fresh(people, room):
    _, alice, bob = people
    a, _, _ = await open_socket(room.slug, alice)
    b, _, _ = await open_socket(room.slug, bob)
    await drain(a)
    await drain(b)
    body = "Try:\n```\nfor x in xs:\n    print(x)\n```"
    await a.send_to(text_data=htmx_frame({"client_id": str(uuid.uuid4()), "message": body}, "chat-lines-form"))
    mine = await receive_all(a, 'id="chat-lines"', "<pre>")
    # The sender gets the multi-line composer back, open, empty and focused; the one-line one is left as it is.
    assert '<details id="chat-lines" class="composer-lines" open hx-swap-oob="true">' in mine
    assert "autofocus></textarea>" in mine and 'id="chat-form"' not in mine
    theirs = await receive_until(b, "<pre>")
    assert "<pre><code>for x in xs:\n    print(x)\n</code></pre>" in theirs
    stored = await Message.objects.aget(room=room)
    assert stored.body == body
    await a.disconnect()
    await b.disconnect()


@pytest.mark.django_db
def test_the_room_page_offers_both_composers(room, people):
    page = logged_in(people[1]).get(f"/chat/{room.slug}/").content.decode()
    assert '<form id="chat-form" class="composer" ws-send' in page
    assert '<textarea id="chat-lines-input" name="message"' in page
    assert page.index('id="chat-lines"') < page.index('id="chat-form"')
    assert '<details id="chat-lines" class="composer-lines">' in page  # closed until asked for


# The data migration -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_renders_messages_stored_before_formatting():
    executor = MigrationExecutor(connection)
    target = next(key for key in executor.loader.disk_migrations if key[1].endswith("_message_formatting"))
    before = [dep for dep in executor.loader.disk_migrations[target].dependencies if dep[0] == "chat"]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="ada")
    old.get_model("chat", "Profile").objects.create(user=user, display_name="Ada L")
    room = old.get_model("chat", "Room").objects.create(name="Old", slug="old")
    Old = old.get_model("chat", "Message")
    kept = Old.objects.create(room=room, author=user, body="**hi** @Ada L, `@ada`", seq=1, created_change=1, change=1)
    kept.mentions.add(user)
    gone = Old.objects.create(
        room=room, author=user, body="", seq=2, created_change=2, change=2, deleted_at="2026-01-01T00:00Z"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    link = f'<a class="mention" href="#message-{kept.pk}" data-user="{user.pk}" {REL}>@Ada L</a>'
    assert Message.objects.get(pk=kept.pk).body_html == f"<strong>hi</strong> {link}, <code>@ada</code>"
    assert Message.objects.get(pk=gone.pk).body_html == ""
