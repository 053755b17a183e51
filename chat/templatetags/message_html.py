"""A message's partial through chat/message_html.py: rendered once per look and state, then its kept copy."""

from functools import lru_cache
from types import SimpleNamespace

from django import template
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from .. import message_html as kept_html

register = template.Library()

# In the tools' markup where the message's id goes: digits, as the edit and delete URLs take only digits there.
_ID_SLOT = "918273645546372819"


@register.simple_tag
def message_html(message, oob=False) -> SafeString:
    """`{% message_html message %}`: what `{% include "chat/_message.html" %}` renders (oob: swapped out of band)."""
    return kept_html.render(message, oob=bool(oob))


@register.simple_tag
def message_tools(message) -> SafeString:
    """`{% message_tools message %}`: the message's reaction picker and actions (chat/_message_tools.html).

    They differ between messages only by the message's id, its room and the reactions not given yet: rendered once
    per room, language and set of reactions, then copied with the id. Rendered for each new message they were
    40% of its render (two URLs, a translated label per reaction; bench.stages "render")."""
    unused = tuple((reaction.emoji, not reaction.count) for reaction in message.reaction_counts)
    shape = _tools_shape(message.room.slug, translation.get_language(), unused)
    return mark_safe(shape.replace(_ID_SLOT, str(message.pk)))


@lru_cache(maxsize=1024)
def _tools_shape(slug: str, language: str, reactions: tuple[tuple[str, bool], ...]) -> str:
    from ..message_display import ReactionCount

    counts = [ReactionCount(emoji, 0 if unused else 1, "", "") for emoji, unused in reactions]
    shape = SimpleNamespace(pk=_ID_SLOT, room=SimpleNamespace(slug=slug), reaction_counts=counts)
    return render_to_string("chat/_message_tools.html", {"message": shape})
