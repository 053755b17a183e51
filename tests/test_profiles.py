"""One's own account: the profile page (display name) and Django's password change, in the site's templates."""

import pytest
from django.test import Client
from django.utils.html import escape

from chat.people_forms import ProfileForm

from .test_security import EXPECTED_CSP, parse_csp

pytestmark = pytest.mark.django_db

RIGHT = "a-long-test-password"  # make_user's


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_the_profile_page_needs_login(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_profile_page_shows_the_username_and_links_to_the_password_change(alice_client):
    page = alice_client.get("/accounts/profile/").content.decode()
    assert '<strong class="username">alice</strong>' in page
    assert 'value="alice"' in page  # the display name starts as the username
    assert 'href="/accounts/password_change/"' in page


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("はなこ", "はなこ"),
        ("Zoë O'Brien", "Zoë O'Brien"),
        ("  Ada Lovelace  ", "Ada Lovelace"),
        ("\uff28\uff41\uff4e\uff41", "Hana"),  # fullwidth letters, NFKC
        ("Zoe\u0308", "Zoë"),  # e and a combining diaeresis compose to one character
        ("x" * 50, "x" * 50),
    ],
)
def test_a_display_name_in_any_alphabet_is_saved(alice, alice_client, typed, stored):
    response = alice_client.post("/accounts/profile/", {"display_name": typed})
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    alice.profile.refresh_from_db()
    assert alice.profile.display_name == stored
    assert f"Your display name is now “{escape(stored)}”." in alice_client.get("/accounts/profile/").content.decode()


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 51, "A display name can be at most 50 characters (this one has 51)."),
        ("\u200b\u200b", "A display name cannot contain invisible or text-direction characters."),
        ("\u3164", "A display name cannot contain invisible or text-direction characters."),  # Hangul filler
        ("a\u202eb", "A display name cannot contain invisible or text-direction characters."),
        ("\u0430lice", "mixes alphabets"),  # a Cyrillic a in a Latin name
    ],
)
def test_a_display_name_that_shows_nothing_or_is_too_long_is_refused(alice, alice_client, typed, error):
    response = alice_client.post("/accounts/profile/", {"display_name": typed})
    assert response.status_code == 400
    assert error in response.content.decode()
    alice.profile.refresh_from_db()
    assert alice.profile.display_name == "alice"


def test_the_length_counts_after_normalising(alice):
    # 50 characters typed as 100 (a letter and a combining mark each) fit: NFKC makes each one character.
    assert ProfileForm({"display_name": "e\u0301" * 50}, instance=alice.profile).is_valid()
    assert not ProfileForm({"display_name": "\ufdfa" * 3}, instance=alice.profile).is_valid()  # 3 typed, 54 stored


def test_a_password_change_keeps_this_session_and_ends_the_old_password(alice_client):
    page = alice_client.get("/accounts/password_change/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    new = "a new battery staple 43"
    response = alice_client.post(
        "/accounts/password_change/", {"old_password": RIGHT, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert "Password change successful" in alice_client.get(response["Location"]).content.decode()
    assert alice_client.get("/").status_code == 200  # still signed in here
    assert Client().post("/accounts/login/", {"username": "alice", "password": RIGHT}).status_code == 200
    assert Client().post("/accounts/login/", {"username": "alice", "password": new}).status_code == 302


def test_a_wrong_old_password_is_refused_on_the_page(alice_client):
    fields = {"old_password": "nope", "new_password1": "a new battery 43", "new_password2": "a new battery 43"}
    response = alice_client.post("/accounts/password_change/", fields)
    assert response.status_code == 200  # Django's view answers a refused form with the form again
    assert "Your old password was entered incorrectly" in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/accounts/profile/", "/accounts/password_change/", "/accounts/password_change/done/", "/people/"]
)
def test_the_account_pages_have_the_strict_csp_and_no_inline_style(make_user, url):
    client = Client()
    client.force_login(make_user("boss", is_superuser=True, is_staff=True))
    response = client.get(url)
    assert response.status_code == 200
    assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP
    html = response.content.decode()
    assert " style=" not in html and "<style" not in html and "hx-on" not in html
    assert "<script>" not in html and "<script " not in html.replace('<script src="/static/vendor/', "")
