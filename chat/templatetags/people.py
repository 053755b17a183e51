"""People as pages show them: initials avatars (profiles.py)."""

from django import template

from .. import profiles

register = template.Library()


@register.filter
def avatar_hue(user_id: int) -> int:
    return profiles.avatar_hue(int(user_id))


@register.filter
def initials(user) -> str:
    return profiles.initials(profiles.display_name(user))
