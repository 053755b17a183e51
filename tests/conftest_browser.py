"""Fixtures for browser tests: a live daphne on a fresh SQLite file, and Chromium."""

import pytest
from playwright.sync_api import sync_playwright

from .live import CHROMIUM, CHROMIUM_ARGS, Daphne, migrate, server_env


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def live_db(live_dir):
    db = live_dir / "chat.sqlite3"
    migrate(server_env(db))
    return db


@pytest.fixture(scope="module")
def server(live_db, live_dir):
    daphne = Daphne(server_env(live_db), live_dir).start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(**options):
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
