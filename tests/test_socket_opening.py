"""A socket that opens: who it signs in and what it shows, read with plain queries (chat/accounts.socket_user,
chat/memberships.socket_state, chat/rows.py) and decided as Django's session_user and the ORM's rooms.room_for and
sidebar decide."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from chat import accounts, memberships, profiles, rooms, services
from chat.models import Membership, Profile, Room
from project.asgi import application

from .conftest import session_cookie
from .sockets import ORIGIN, closed_with, pytest_async


def both(key):
    """What the plain queries decide, and what Django's own path decides."""
    return accounts.socket_user(key), accounts.session_user(key)


@pytest.mark.django_db
def test_a_signed_in_session_gives_the_user_as_the_orm_reads_it(make_user, django_assert_num_queries):
    alice = make_user("alice", first_name="Alice")
    key = session_cookie(alice)
    with django_assert_num_queries(2):  # the session, then the user with their profile
        user = accounts.socket_user(key)
    reference = accounts.session_user(key)
    for field in type(user)._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(reference, field.attname), field.name
    assert user.is_active is True and user.last_login.tzinfo is not None  # converted as the ORM converts them
    with django_assert_num_queries(0):  # read along
        profile, name = profiles.profile_of(user), profiles.display_name(user)
    assert profile.pk == Profile.objects.get(user=alice).pk and profile.user is user
    assert name == "alice"


@pytest.mark.django_db
def test_nobody_for_a_session_that_does_not_sign_in(make_user):
    alice = make_user("alice")
    assert both(None) == (None, None)
    assert both("") == (None, None)
    assert both("short") == (None, None)
    assert both("x" * 32) == (None, None)  # no such session

    expired = session_cookie(alice)
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert both(expired) == (None, None)

    tampered = session_cookie(alice)
    Session.objects.filter(session_key=tampered).update(session_data="not-signed:data")
    assert both(tampered) == (None, None)

    stale_hash = SessionStore()
    stale_hash.update({SESSION_KEY: str(alice.pk), "_auth_user_backend": accounts.MODEL_BACKEND})
    stale_hash[HASH_SESSION_KEY] = "not-the-password-hash"
    stale_hash.create()
    assert both(stale_hash.session_key) == (None, None)

    other_backend = SessionStore()
    other_backend.update({SESSION_KEY: str(alice.pk), "_auth_user_backend": "elsewhere.Backend"})
    other_backend[HASH_SESSION_KEY] = alice.get_session_auth_hash()
    other_backend.create()
    assert both(other_backend.session_key) == (None, None)


@pytest.mark.django_db
def test_a_new_password_or_a_deactivation_signs_the_session_out(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice_key, bob_key = session_cookie(alice), session_cookie(bob)
    assert accounts.socket_user(alice_key).pk == alice.pk
    alice.set_password("another-long-password")
    alice.save()
    assert both(alice_key) == (None, None)
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    Session.objects.all().delete()  # (deactivation ends the sessions too: a stored one is refused anyway)
    assert both(bob_key) == (None, None)


@pytest.mark.django_db
def test_a_deactivated_user_with_a_kept_session_is_nobody(make_user):
    bob = make_user("bob")
    key = session_cookie(bob)
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)  # no signal: the session stays stored
    assert Session.objects.filter(session_key=key).exists()
    assert both(key) == (None, None)


@pytest.mark.django_db
def test_an_account_without_a_profile(make_user):
    alice = make_user("alice")
    Profile.objects.filter(user=alice).delete()
    user = accounts.socket_user(session_cookie(alice))
    assert user.pk == alice.pk
    assert profiles.profile_of(user) is None and profiles.display_name(user) == "alice"


@pytest.mark.django_db
def test_socket_state_sees_the_rooms_the_orm_lets_the_user_see(make_user):
    owner, alice = make_user("owner"), make_user("alice")
    lobby = rooms.create_room("Lobby", owner)
    closed = rooms.create_room("Staff", owner, kind=Room.Kind.CLOSED)
    assert memberships.socket_state("no-such-room", alice) is None
    assert memberships.socket_state(closed.slug, alice) is None  # a closed room: members only
    assert rooms.room_for(alice, closed.slug) is None
    state = memberships.socket_state(lobby.slug, alice)
    assert state.room.pk == lobby.pk and state.room.kind == Room.Kind.OPEN
    assert state.room.created_at == Room.objects.get(pk=lobby.pk).created_at
    assert state.counts == {lobby.pk: memberships.NO_UNREAD}

    Membership.objects.create(user=alice, room=closed)
    Membership.objects.create(user=alice, room=lobby)
    services.post_message(lobby, owner, "one")
    services.post_message(lobby, owner, f"@{alice.username} two")
    state = memberships.socket_state(closed.slug, alice)
    assert state.room.pk == closed.pk
    # The sidebar's counts as sidebar() gives them; the room shown has none.
    listed = {row.room.pk: (row.unread, row.mentions) for row in memberships.sidebar(alice)}
    assert listed[lobby.pk] == (2, 1)
    assert state.counts == {lobby.pk: (2, 1), closed.pk: memberships.NO_UNREAD}
    assert state.names == {lobby.pk: ("Lobby", lobby.slug), closed.pk: ("Staff", closed.slug)}
    assert list(state.counts) == [row.room.pk for row in memberships.sidebar(alice)]  # most recently active first


@pytest_async
async def test_a_socket_on_a_session_that_ended_is_closed_with_4401(make_user, lobby):
    alice = await sync_to_async(make_user)("alice")
    cookie = await sync_to_async(session_cookie)(alice)
    await sync_to_async(Session.objects.all().delete)()  # signed out since the page loaded
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", ORIGIN), (b"cookie", f"sessionid={cookie}".encode())]
    communicator = WebsocketCommunicator(application, f"/ws/chat/{lobby.slug}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected and await closed_with(communicator) == 4401
