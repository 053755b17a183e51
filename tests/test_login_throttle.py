"""Failed logins (chat/login_throttle.py): lockouts per name and address, forwarded-for, the admin's login."""

import pytest
from django.test import Client, override_settings

RIGHT = "a-long-test-password"


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/", **headers) -> int:
    return client.post(path, {"username": username, "password": password}, **headers).status_code


@pytest.mark.django_db
def test_failed_logins_lock_that_name_from_that_address_only(make_user):
    make_user("dave")
    attacker, dave = Client(REMOTE_ADDR="203.0.113.66"), Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):  # as DAVE: the same name to count
        assert log_in(attacker, "DAVE", "wrong") == 200
    assert log_in(attacker, "Dave", "wrong") == 429  # the fifth failure locks
    response = attacker.post("/accounts/login/", {"username": "dave", "password": RIGHT})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert log_in(dave, "dave", RIGHT) == 302  # the real dave, elsewhere, is not locked out


@pytest.mark.django_db
@override_settings(CHAT_LOGIN_FAILURES_PER_ADDRESS=12)
def test_failed_logins_lock_an_address_that_guesses_many_names(make_user):
    make_user("innocent")
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    for i in range(11):
        log_in(guesser, f"guess{i}", "wrong")
    assert log_in(guesser, "innocent", "wrong") == 429  # the 12th failure, each name below its own limit
    assert log_in(guesser, "innocent", RIGHT) == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.7"), "innocent", RIGHT) == 302


@pytest.mark.django_db
def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(make_user):
    make_user("victim")
    client = Client(REMOTE_ADDR="203.0.113.66")
    for i in range(5):  # a new "client address" each time, which nobody vouches for
        log_in(client, "victim", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert log_in(client, "victim", RIGHT, HTTP_X_FORWARDED_FOR="10.0.0.99") == 429


@pytest.mark.django_db
@override_settings(CHAT_TRUSTED_PROXIES=["127.0.0.1"])
def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(make_user):
    make_user("victim")
    proxy = Client(REMOTE_ADDR="127.0.0.1")
    for i in range(5):  # the client prepends what it likes; the proxy appends the address it saw
        log_in(proxy, "victim", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.66")
    assert log_in(proxy, "victim", RIGHT, HTTP_X_FORWARDED_FOR="10.0.0.99, 203.0.113.66") == 429
    assert log_in(proxy, "victim", RIGHT, HTTP_X_FORWARDED_FOR="198.51.100.7") == 302


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(make_user):
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(4):
        assert log_in(client, "boss", "wrong", path="/admin/login/") == 200
    assert log_in(client, "boss", "wrong", path="/admin/login/") == 429
    assert log_in(client, "boss", RIGHT, path="/admin/login/") == 429
    assert log_in(client, "boss", RIGHT) == 429  # one count for every login form
