"""The site's first account, its admin, made from the command line (a deployment script, no browser).

    manage.py chat_first_admin --username admin --url https://chat.example.com
    (the password from --password or CHAT_ADMIN_PASSWORD; the same rules as the sign-up page)

Prints the site's join link (chat/invitations.py), which the admin gives to everyone else. Run again with
the same username it only prints the link again; any other account already there is an error: the site
has its admin.
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from chat import invitations
from chat.forms import SignUpForm


class Command(BaseCommand):
    help = "Create the site's first account (its admin) and print the join link for everyone else."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", help="default: the CHAT_ADMIN_PASSWORD environment variable")
        parser.add_argument("--url", default="", help="the site's address, e.g. https://chat.example.com")

    def handle(self, *args, username: str, password: str | None, url: str, **options) -> None:
        users = get_user_model().objects
        existing = users.filter(username=username, is_superuser=True).first()
        if existing is None:
            if users.exists():
                raise CommandError("The site already has accounts: its first admin was made before.")
            self.create(username, password or os.environ.get("CHAT_ADMIN_PASSWORD", ""))
            self.stdout.write(f"Created the site admin {username}.")
        else:
            self.stdout.write(f"{username} is already the site admin.")
        link = url.rstrip("/") + reverse("join", args=[invitations.join_code()])
        self.stdout.write(f"Join link (give it to everyone else): {link}")

    def create(self, username: str, password: str) -> None:
        if not password:
            raise CommandError("Give a password: --password, or CHAT_ADMIN_PASSWORD in the environment.")
        form = SignUpForm({"username": username, "password1": password, "password2": password}, address="")
        if not form.is_valid():
            errors = [f"{field}: {' '.join(map(str, messages))}" for field, messages in form.errors.items()]
            raise CommandError("; ".join(errors))
        invitations.create_account(form)  # the first account is the site admin
