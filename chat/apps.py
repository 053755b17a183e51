from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        from . import accounts, attachments, profiles  # noqa: F401  (signal receivers)

        post_migrate.connect(ensure_search_index, sender=self)


def ensure_search_index(using: str = "default", **kwargs) -> None:
    """SQLite drops a table's triggers when a migration rebuilds it: put the search index's back (chat/search.py)."""
    from django.db import connections

    from . import search

    search.ensure_index(connections[using])
