"""A new site, as its admin and the people they invite see it: sign-up by invitation only."""

import pytest
from playwright.sync_api import expect

from .browser import sign_up, watch
from .live import Daphne, migrate, server_env

pytestmark = pytest.mark.browser

NEEDS_INVITATION = "Sign-up needs an invitation link; ask the person who runs this chat."


@pytest.fixture
def new_site(tmp_path, live_dir):
    """A daphne on an empty database of its own, with sign-up by invitation (the deployment's default; the
    shared `server` opens sign-up for the other tests)."""
    env = server_env(tmp_path / "new-site.sqlite3", CHAT_OPEN_SIGNUP="")
    migrate(env)
    daphne = Daphne(env, live_dir).start()
    yield daphne
    daphne.stop()


def test_the_site_admin_invites_people_with_the_join_link(new_site, new_page):
    base = new_site.url
    boss = new_page()
    seen = watch(boss)
    boss.goto(f"{base}/accounts/signup/")
    expect(boss.locator("main")).to_contain_text("This is the site's first account")
    sign_up(boss, base, "boss")

    boss.click(".account-nav >> text=People")
    expect(boss).to_have_url(f"{base}/people/")
    join_link = boss.locator("#join-link")
    expect(join_link).to_have_attribute("readonly", "")
    first_link = join_link.input_value()
    assert first_link.startswith(f"{base}/join/") and len(first_link) >= len(f"{base}/join/") + 32

    newcomer = new_page()
    sign_up(newcomer, base, "newcomer", join_url=first_link)
    expect(newcomer.locator(".account-nav .who")).to_have_text("newcomer")
    expect(newcomer.locator(".account-nav >> text=People")).to_have_count(0)
    assert newcomer.goto(f"{base}/people/").status == 404

    stranger = new_page()
    response = stranger.goto(f"{base}/accounts/signup/")
    assert response is not None and response.status == 403
    expect(stranger.locator("main")).to_contain_text(NEEDS_INVITATION)
    stranger.goto(f"{base}/accounts/login/")
    expect(stranger.locator("main")).to_contain_text("Forgot your password? Ask the site admin for a reset link.")
    assert stranger.goto(f"{base}/join/not-the-code/").status == 404

    boss.reload()
    expect(boss.locator("#accounts .username")).to_have_text(["boss", "newcomer"])
    boss.click("#regenerate-join-link")
    expect(boss).to_have_url(f"{base}/people/")
    expect(join_link).not_to_have_value(first_link)
    second_link = join_link.input_value()
    assert stranger.goto(first_link).status == 404  # the old link stopped at once
    sign_up(stranger, base, "latecomer", join_url=second_link)
    boss.reload()
    expect(boss.locator("#accounts .username")).to_have_text(["boss", "latecomer", "newcomer"])
    assert seen.console_errors == []  # nothing the CSP refused, no script error
