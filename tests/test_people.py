"""Accounts by invitation (chat/invitations.py) and the site admin's people page (chat/people.py): the join
link, deactivation, one-time password-reset links and login locks."""

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.test import Client

from chat import invitations
from chat.forms import SignUpForm

from .conftest import session_cookie
from .live import ROOT

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct horse battery 42"
RIGHT = "a-long-test-password"  # make_user's
NEEDS_INVITATION = "Sign-up needs an invitation link; ask the person who runs this chat."


@pytest.fixture
def invitation_only(settings):
    """The deployment's default: sign-up by invitation (the suite opens it for other tests)."""
    settings.CHAT_OPEN_SIGNUP = False


@pytest.fixture
def site_admin(make_user):
    return make_user("boss", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_client(site_admin):
    client = Client()
    client.force_login(site_admin)
    return client


def sign_up(client: Client, path: str, username: str):
    return client.post(path, {"username": username, "password1": PASSWORD, "password2": PASSWORD})


def join_path(code: str) -> str:
    return f"/join/{code}/"


# Sign-up by invitation ---------------------------------------------------------------------------------------


def test_the_first_account_made_on_the_sign_up_page_is_the_site_admin(client, invitation_only):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "first account" in page.content.decode()
    assert sign_up(client, "/accounts/signup/", "founder").status_code == 302
    founder = User.objects.get(username="founder")
    assert founder.is_superuser and founder.is_staff
    assert client.get("/people/").status_code == 200  # signed in, and it is their page


def test_once_an_account_exists_sign_up_without_the_link_is_refused_with_a_clear_page(
    client, make_user, invitation_only
):
    make_user("founder")
    for response in (client.get("/accounts/signup/"), sign_up(client, "/accounts/signup/", "stranger")):
        assert response.status_code == 403
        assert NEEDS_INVITATION in response.content.decode()
    assert not User.objects.filter(username="stranger").exists()


def test_sign_up_through_the_join_link_makes_a_plain_account(client, site_admin, invitation_only):
    path = join_path(invitations.join_code())
    page = client.get(path)
    assert page.status_code == 200
    assert f'action="{path}"' in page.content.decode()
    response = sign_up(client, path, "newcomer")
    assert response.status_code == 302 and response["Location"] == "/"
    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.is_superuser and not newcomer.is_staff
    assert client.get("/").status_code == 200  # signed in
    assert client.get("/people/").status_code == 404


def test_the_join_link_keeps_the_sign_up_rules_and_limit(site_admin, invitation_only, settings):
    settings.CHAT_SIGNUPS_BURST = 1
    path = join_path(invitations.join_code())
    weak = Client(REMOTE_ADDR="198.51.100.1").post(path, {"username": "x", "password1": "123", "password2": "123"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    assert sign_up(Client(REMOTE_ADDR="203.0.113.5"), path, "first").status_code == 302
    refused = sign_up(Client(REMOTE_ADDR="203.0.113.5"), path, "second")
    assert refused.status_code == 429 and "Many accounts were created from your network" in refused.content.decode()


@pytest.mark.parametrize("code", ["wrong", "A" * 32, "../people"])
def test_a_wrong_join_code_is_404(client, site_admin, invitation_only, code):
    invitations.join_code()
    assert client.get(join_path(code)).status_code == 404
    assert sign_up(client, join_path(code), "intruder").status_code == 404
    assert not User.objects.filter(username="intruder").exists()


def test_no_join_link_works_before_the_site_admin_first_shows_it(client, site_admin, invitation_only):
    assert client.get(join_path("anything")).status_code == 404


def test_the_join_code_is_random_and_long(site_admin):
    code = invitations.join_code()
    assert len(code) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", code)  # 24 random bytes: 192 bits
    assert invitations.join_code() == code  # one link for the site until regenerated
    assert invitations.regenerate() != code


def test_regenerating_stops_the_old_link_at_once(client, admin_client, invitation_only):
    old = invitations.join_code()
    assert admin_client.post("/people/join-link/").status_code == 302
    new = invitations.join_code()
    assert new != old
    assert client.get(join_path(old)).status_code == 404
    assert sign_up(client, join_path(old), "late").status_code == 404
    assert f"http://testserver/join/{new}/" in admin_client.get("/people/").content.decode()
    assert sign_up(client, join_path(new), "ontime").status_code == 302


def test_a_sign_up_whose_link_is_regenerated_while_the_form_is_open_is_refused(site_admin, invitation_only):
    code = invitations.join_code()
    form = SignUpForm({"username": "slow", "password1": PASSWORD, "password2": PASSWORD})
    assert form.is_valid()
    invitations.regenerate()
    with pytest.raises(invitations.SignUpClosed):
        invitations.create_account(form, code)
    assert not User.objects.filter(username="slow").exists()


def test_open_sign_up_lets_anyone_sign_up_without_a_link(client, make_user, settings):
    settings.CHAT_OPEN_SIGNUP = True
    make_user("founder")
    assert client.get("/accounts/signup/").status_code == 200
    assert sign_up(client, "/accounts/signup/", "walkin").status_code == 302
    assert not User.objects.get(username="walkin").is_superuser


def test_open_sign_up_is_read_from_the_environment_and_off_by_default():
    def read(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k not in {"CHAT_OPEN_SIGNUP", "DJANGO_SETTINGS_MODULE"}}
        if value is not None:
            env["CHAT_OPEN_SIGNUP"] = value
        code = "from project import settings; print(settings.CHAT_OPEN_SIGNUP)"
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True).stdout

    assert [read(None), read("1"), read("0")] == ["False\n", "True\n", "False\n"]


def test_the_login_page_says_how_to_get_in(client, make_user, invitation_only, settings):
    make_user("founder")
    page = client.get("/accounts/login/").content.decode()
    assert "Forgot your password? Ask the site admin for a reset link." in page
    assert "invitation link you were given" in page and 'href="/accounts/signup/"' not in page
    settings.CHAT_OPEN_SIGNUP = True
    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()


# The people page ---------------------------------------------------------------------------------------------


PEOPLE_URLS = [("get", "/people/"), ("post", "/people/join-link/"), ("post", "/people/unlock/")]


@pytest.mark.parametrize(("method", "url"), [*PEOPLE_URLS, ("post", "/people/{pk}/")])
def test_the_people_page_is_404_for_anyone_but_the_site_admin(client, make_user, site_admin, method, url):
    client.force_login(make_user("alice"))
    url = url.format(pk=site_admin.pk)
    assert getattr(client, method)(url, {"action": "deactivate", "address": "127.0.0.1"}).status_code == 404
    assert User.objects.get(pk=site_admin.pk).is_active


@pytest.mark.parametrize(("method", "url"), PEOPLE_URLS)
def test_the_people_page_sends_the_signed_out_to_log_in(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_people_page_shows_the_join_link_and_everyone(admin_client, make_user):
    alice = make_user("alice")
    alice.profile.display_name = "Alice Liddell"
    alice.profile.save()
    make_user("gone", is_active=False)
    page = admin_client.get("/people/").content.decode()
    assert re.search(r'<input type="text" id="join-link" value="http://testserver/join/[\w-]{32}/" readonly>', page)
    rows = {
        name: re.search(rf'<tr id="account-{user.pk}">.*?</tr>', page, re.S).group(0)
        for name, user in [(u.username, u) for u in User.objects.all()]
    }
    assert "Alice Liddell" in rows["alice"] and "active" in rows["alice"] and "Deactivate" in rows["alice"]
    assert "deactivated" in rows["gone"] and "Reactivate" in rows["gone"] and "Reset link" not in rows["gone"]
    assert "site admin" in rows["boss"] and "Deactivate" not in rows["boss"]  # not oneself


def test_the_header_links_to_the_people_page_for_the_site_admin_only(admin_client, make_user):
    assert 'href="/people/"' in admin_client.get("/").content.decode()
    client = Client()
    client.force_login(make_user("alice"))
    page = client.get("/").content.decode()
    assert 'href="/people/"' not in page and 'href="/accounts/profile/"' in page


def test_people_actions_need_the_csrf_token(site_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin)
    code = invitations.join_code()
    assert client.post("/people/join-link/").status_code == 403
    assert invitations.join_code() == code


def test_deactivate_and_reactivate(admin_client, make_user):
    bob = make_user("bob")
    assert admin_client.post(f"/people/{bob.pk}/", {"action": "deactivate"}).status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    refused = Client().post("/accounts/login/", {"username": "bob", "password": RIGHT})
    assert refused.status_code == 200 and "correct username and password" in refused.content.decode()
    assert admin_client.post(f"/people/{bob.pk}/", {"action": "reactivate"}).status_code == 302
    assert Client().post("/accounts/login/", {"username": "bob", "password": RIGHT}).status_code == 302


def test_deactivation_ends_the_persons_sessions_for_good(admin_client, make_user, django_capture_on_commit_callbacks):
    bob = make_user("bob")
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.cookies["sessionid"] = session_cookie(bob)
        assert browser.get("/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/people/{bob.pk}/", {"action": "deactivate"})
    assert browsers[0].get("/").status_code == 302  # the session no longer signs anyone in
    admin_client.post(f"/people/{bob.pk}/", {"action": "reactivate"})
    assert browsers[1].get("/").status_code == 302  # and does not again once bob is back (a lost phone's)
    assert admin_client.get("/").status_code == 200  # the admin's own session is untouched


@pytest.mark.parametrize("update_fields", [None, ["is_active"], ["is_active", "last_login"]])
def test_deactivating_closes_the_persons_sockets_however_the_account_is_saved(
    make_user, django_capture_on_commit_callbacks, update_fields
):
    bob = make_user("bob")
    with mock.patch("chat.accounts.notify_signed_out") as notify, django_capture_on_commit_callbacks(execute=True):
        bob.is_active = False
        bob.save(update_fields=update_fields)
    notify.assert_called_once_with(bob.pk)


def test_the_people_page_deactivation_closes_the_persons_sockets(
    admin_client, make_user, django_capture_on_commit_callbacks
):
    bob = make_user("bob")
    with mock.patch("chat.accounts.notify_signed_out") as notify, django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/people/{bob.pk}/", {"action": "deactivate"})
    notify.assert_called_once_with(bob.pk)


def test_the_site_admin_cannot_deactivate_themselves(admin_client, site_admin):
    response = admin_client.post(f"/people/{site_admin.pk}/", {"action": "deactivate"})
    assert response.status_code == 400
    assert "You cannot deactivate your own account." in response.content.decode()
    site_admin.refresh_from_db()
    assert site_admin.is_active


def test_an_unknown_action_or_account_is_refused(admin_client, site_admin):
    assert admin_client.post(f"/people/{site_admin.pk}/", {"action": "promote"}).status_code == 400
    assert admin_client.post("/people/999999/", {"action": "deactivate"}).status_code == 404


# Password-reset links ----------------------------------------------------------------------------------------


def reset_link(admin_client: Client, user) -> str:
    """The path of the one-time link the people page shows for `user`."""
    page = admin_client.post(f"/people/{user.pk}/", {"action": "reset_link"})
    assert page.status_code == 200
    found = re.search(r'id="reset-link" value="http://testserver(/accounts/reset/[^"]+)"', page.content.decode())
    assert found, "the page shows the link"
    return found.group(1)


def use_reset_link(path: str, password: str) -> Client:
    client = Client()
    form = client.get(path)
    assert form.status_code == 302  # Django moves the token into the session, out of the address bar
    done = client.post(form["Location"], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert "Your new password is set" in client.get(done["Location"]).content.decode()
    return client


def test_a_reset_link_sets_a_new_password_once(admin_client, make_user):
    bob = make_user("bob")
    path = reset_link(admin_client, bob)
    new = "a brand new battery 7"
    use_reset_link(path, new)
    assert Client().post("/accounts/login/", {"username": "bob", "password": new}).status_code == 302
    again = Client().get(path)
    assert again.status_code == 200 and "This reset link does not work" in again.content.decode()
    assert Client().post("/accounts/login/", {"username": "bob", "password": RIGHT}).status_code == 200


def test_a_reset_link_expires_after_a_day(admin_client, make_user):
    assert django_settings.PASSWORD_RESET_TIMEOUT == 24 * 3600
    bob = make_user("bob")
    path = reset_link(admin_client, bob)
    later = datetime.now() + timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT + 60)
    with mock.patch.object(PasswordResetTokenGenerator, "_now", return_value=later):
        page = Client().get(path)
    assert page.status_code == 200 and "This reset link does not work" in page.content.decode()
    almost = datetime.now() + timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT - 60)
    with mock.patch.object(PasswordResetTokenGenerator, "_now", return_value=almost):
        assert Client().get(path).status_code == 302  # still good a minute before


def test_no_reset_link_for_a_deactivated_account(admin_client, make_user):
    gone = make_user("gone", is_active=False)
    response = admin_client.post(f"/people/{gone.pk}/", {"action": "reset_link"})
    assert response.status_code == 400 and "Reactivate gone" in response.content.decode()


@pytest.mark.parametrize("path", ["/accounts/password_reset/", "/accounts/password_reset/done/"])
def test_the_email_password_reset_is_gone(client, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "a@example.com"}).status_code == 404


# Login locks -------------------------------------------------------------------------------------------------


def log_in(client: Client, username: str, password: str) -> int:
    return client.post("/accounts/login/", {"username": username, "password": password}).status_code


def test_unlock_lifts_a_login_lock(admin_client, make_user):
    make_user("carol")
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    assert [log_in(guesser, "carol", "wrong") for _ in range(5)] == [200, 200, 200, 200, 429]
    assert log_in(guesser, "carol", RIGHT) == 429
    page = admin_client.get("/people/").content.decode()
    row = re.search(r'<table class="people-table" id="locks">.*?</table>', page, re.S).group(0)
    assert "carol" in row and "203.0.113.9" in row and "<td>6</td>" in row  # the try while locked counts too
    response = admin_client.post("/people/unlock/", {"address": "203.0.113.9", "username": "carol"})
    assert response.status_code == 302
    assert "No login is locked." in admin_client.get("/people/").content.decode()
    assert log_in(guesser, "carol", RIGHT) == 302


def test_unlock_lifts_the_lock_of_an_address(admin_client, make_user, settings):
    settings.CHAT_LOGIN_FAILURES_PER_ADDRESS = 6
    make_user("innocent")
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(6):
        log_in(guesser, f"guess{i}", "wrong")
    assert log_in(guesser, "innocent", RIGHT) == 429
    assert "every name" in admin_client.get("/people/").content.decode()
    assert admin_client.post("/people/unlock/", {"address": "203.0.113.9"}).status_code == 302
    assert log_in(guesser, "innocent", RIGHT) == 302


def test_unlock_needs_an_address(admin_client):
    assert admin_client.post("/people/unlock/", {"username": "carol"}).status_code == 400
