"""Each reader's language and time zone: pages, forms, and socket frames rendered once per look."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import looks, rooms, services
from chat.live import frames
from chat.live.hub import get_hub
from chat.models import Message, Profile

from .conftest import signed_in_client
from .sockets import drain, open_socket, receive_all, send_frame

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


def set_look(user, language: str = "", zone: str = "") -> None:
    Profile.objects.filter(user=user).update(language=language, time_zone=zone)


def shown_times(html: str, body: str) -> list[tuple[str, str]]:
    """(datetime attribute, text) of the <time> in the article holding `body`."""
    found = []
    for article in re.findall(r"<article .*?</article>", html, re.S):
        if body in article:
            found += re.findall(r'<time datetime="([^"]+)"[^>]*>([^<]+)</time>', article)
    return found


def wall_clock(moment, zone: str) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M")


def utc_iso(moment) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


# Pages ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_browser_language_chooses_the_page_language_and_html_lang(client):
    assert '<html lang="ja">' in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ja-JP,ja;q=0.9").content.decode()
    assert '<html lang="en">' in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="en">' in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()


@pytest.mark.django_db
def test_the_language_switch_is_remembered_on_the_profile_over_the_browser(make_user):
    hanako = make_user("hanako")
    client = signed_in_client(hanako)
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == "/"
    assert Profile.objects.get(user=hanako).language == "ja"
    # Another browser of hers, asking for English, without the cookie: still Japanese.
    elsewhere = signed_in_client(hanako)
    assert '<html lang="ja">' in elsewhere.get("/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert '<html lang="en">' in elsewhere.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()


@pytest.mark.django_db
def test_an_unknown_language_changes_nothing(make_user):
    hanako = make_user("hanako")
    signed_in_client(hanako).post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert Profile.objects.get(user=hanako).language == ""


@pytest.mark.django_db
def test_sign_up_offers_the_usual_zone_of_the_browser_language_and_keeps_it(client):
    page = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="ja-JP").content.decode()
    assert re.search(r'<option value="Asia/Tokyo"[^>]*selected', page)
    fields = {"username": "hanako", "password1": "a-long-test-password", "password2": "a-long-test-password"}
    client.post("/accounts/signup/", {**fields, "time_zone": TOKYO}, HTTP_ACCEPT_LANGUAGE="ja-JP")
    assert Profile.objects.get(user__username="hanako").time_zone == TOKYO


@pytest.mark.django_db
def test_the_profile_page_sets_language_and_zone_and_refuses_an_unknown_zone(make_user):
    hanako = make_user("hanako")
    client = signed_in_client(hanako)
    fields = {"display_name": "花子", "language": "ja", "time_zone": "Mars/Olympus"}
    refused = client.post("/accounts/profile/", fields)
    assert refused.status_code == 400
    assert Profile.objects.get(user=hanako).time_zone == ""
    client.post("/accounts/profile/", {**fields, "time_zone": TOKYO})
    profile = Profile.objects.get(user=hanako)
    assert (profile.language, profile.time_zone) == ("ja", TOKYO)


@pytest.mark.django_db
def test_times_on_the_page_are_in_the_reader_zone_with_the_date_when_not_today(make_user):
    hanako, bob = make_user("hanako"), make_user("bob")
    set_look(hanako, "ja", TOKYO)
    set_look(bob, "en", NEW_YORK)
    room = rooms.create_room("Lobby", hanako)
    now = services.post_message(room, hanako, "posted now").message
    old = services.post_message(room, hanako, "posted last year").message
    Message.objects.filter(pk=old.pk).update(created_at=now.created_at - timedelta(days=400))
    old.refresh_from_db()
    for reader, zone in ((hanako, TOKYO), (bob, NEW_YORK)):
        html = signed_in_client(reader).get(f"/chat/{room.slug}/").content.decode()
        [(instant, text)] = shown_times(html, "posted now")
        assert instant == utc_iso(now.created_at)
        if (
            now.created_at.astimezone(zoneinfo.ZoneInfo(zone)).date()
            == timezone.now().astimezone(zoneinfo.ZoneInfo(zone)).date()
        ):
            assert text == wall_clock(now.created_at, zone)
        [(_, old_text)] = shown_times(html, "posted last year")
        local = old.created_at.astimezone(zoneinfo.ZoneInfo(zone))
        assert str(local.year) in old_text and old_text.endswith(local.strftime("%H:%M"))
    ja_html = signed_in_client(hanako).get(f"/chat/{room.slug}/").content.decode()
    [(_, old_in_japanese)] = shown_times(ja_html, "posted last year")
    local = old.created_at.astimezone(zoneinfo.ZoneInfo(TOKYO))
    assert old_in_japanese == f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


# Socket frames ---------------------------------------------------------------------------

socket_db = pytest.mark.django_db(transaction=True)


@socket_db
async def test_each_page_gets_the_new_message_in_its_own_look_rendered_once_per_look(make_user):
    hanako, bob, carol = [await sync_to_async(make_user)(name) for name in ("hanako", "bob", "carol")]
    await sync_to_async(set_look)(hanako, "ja", TOKYO)
    await sync_to_async(set_look)(bob, "en", NEW_YORK)
    await sync_to_async(set_look)(carol, "en", NEW_YORK)
    room = await sync_to_async(rooms.create_room)("Lobby", hanako)
    h, _, _ = await open_socket(room.slug, hanako)
    b, _, _ = await open_socket(room.slug, bob)
    c, _, _ = await open_socket(room.slug, carol)
    for socket in (h, b, c):
        await drain(socket)
    assert get_hub().looks_of(room.pk) == {looks.Look("ja", TOKYO), looks.Look("en", NEW_YORK)}
    rendered = []
    real = frames.render_new_message_frame

    def counting(message):
        rendered.append(looks.active())
        return real(message)

    frames.render_new_message_frame = counting
    try:
        await h.send_to(text_data=send_frame("こんにちは"))
        in_japanese = await receive_all(h, "こんにちは")
        in_english = await receive_all(b, "こんにちは")
        also_english = await receive_all(c, "こんにちは")
    finally:
        frames.render_new_message_frame = real
    assert sorted(rendered, key=lambda look: look.key) == [looks.Look("en", NEW_YORK), looks.Look("ja", TOKYO)]
    message = await sync_to_async(Message.objects.get)(body="こんにちは")
    [(instant, tokyo)] = shown_times(in_japanese, "こんにちは")
    [(same_instant, new_york)] = shown_times(in_english, "こんにちは")
    assert instant == same_instant == utc_iso(message.created_at)
    assert (tokyo, new_york) == (wall_clock(message.created_at, TOKYO), wall_clock(message.created_at, NEW_YORK))
    assert shown_times(also_english, "こんにちは") == shown_times(in_english, "こんにちは")
    for socket in (h, b, c):
        await socket.disconnect()


@socket_db
async def test_a_page_whose_look_the_sender_did_not_render_reads_the_change_from_the_database(make_user):
    hanako, bob = await sync_to_async(make_user)("hanako"), await sync_to_async(make_user)("bob")
    await sync_to_async(set_look)(hanako, "ja", TOKYO)
    room = await sync_to_async(rooms.create_room)("Lobby", bob)
    h, _, _ = await open_socket(room.slug, hanako)
    await drain(h)
    message = (await sync_to_async(services.post_message)(room, bob, "only in English")).message
    english = await sync_to_async(frames.render_new_message_frames)(message, {looks.default()})
    # As from a process that did not know of hanako's page yet: no frame in her look.
    get_hub().changes.deliver(room.pk, message.change, english)
    received = await receive_all(h, "only in English")
    [(_, shown)] = shown_times(received, "only in English")
    assert shown == wall_clock(message.created_at, TOKYO)
    assert received.count("<article") == 1
    await h.disconnect()


@socket_db
async def test_the_composer_error_is_in_the_sender_language(make_user):
    hanako = await sync_to_async(make_user)("hanako")
    await sync_to_async(set_look)(hanako, "ja", TOKYO)
    room = await sync_to_async(rooms.create_room)("Lobby", hanako)
    h, _, _ = await open_socket(room.slug, hanako)
    await drain(h)
    await h.send_to(text_data=send_frame("   "))
    error = await receive_all(h, 'id="composer-error"')
    assert "メッセージ" in error and "Type a message" not in error
    await h.disconnect()


def test_a_wildcard_in_accept_language_ends_the_choice_as_for_django():
    """The page (LocaleMiddleware) and its socket (looks.of_scope) must pick the same language."""
    assert looks.browser_language("fr,*;q=0.9,ja;q=0.8") == "en"
    assert looks.browser_language("fr,ja;q=0.8") == "ja"


def test_a_look_read_from_an_older_presence_entry_is_not_taken_for_real():
    assert looks.Look("ja", TOKYO).is_real()
    assert not looks.Look("Mary", "Ann").is_real()
    assert not looks.Look("ja", "Mars/Olympus").is_real()


@pytest.mark.django_db
def test_the_language_switch_on_a_refused_post_goes_back_to_the_room(make_user):
    hanako = make_user("hanako")
    room = rooms.create_room("Lobby", hanako)
    page = signed_in_client(hanako).post(f"/chat/{room.slug}/send/", {"message": "   "}).content.decode()
    assert re.search(rf'name="next" value="/chat/{room.slug}/"', page)
