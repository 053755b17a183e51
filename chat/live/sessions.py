"""Sessions that end: a sign-out closes that session's sockets, a new password or a deactivation all of the
user's, on every process, before the next event is handled (so nothing sent afterwards reaches them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import publish_from_sync, user_signed_out

if TYPE_CHECKING:
    from .hub import Hub


class Sessions:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def user_signed_out(self, event: dict) -> None:
        ended = event.get("session")
        for socket in list(self.hub.users.get(event["user"], ())):
            if ended is None or socket.session_digest == ended:
                await socket.sign_out()


def notify_signed_out(user_id: int, session: str | None = None) -> None:
    """Tell every process that one session of a user ended (`session`: its digest), or all of them (None)."""
    publish_from_sync(user_signed_out(user_id, session))
