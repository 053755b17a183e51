"""Forms of the account pages: one's own profile, and what the site admin does on the people page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import login_throttle, looks, text
from .models import Profile
from .profiles import DISPLAY_NAME_MAX_LENGTH


class ProfileForm(forms.ModelForm):
    # No max_length on the field: the length that counts is the name's after NFKC (clean_display_name).
    display_name = forms.CharField(
        label=_("Display name"),
        strip=True,
        help_text=format_lazy(
            _("The name others see beside your messages: 1 to {max} characters, in any alphabet."),
            max=DISPLAY_NAME_MAX_LENGTH,
        ),
    )

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("As my browser asks")), *settings.LANGUAGES],
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        help_text=_("Times in the chat are shown in this zone."),
    )

    class Meta:
        model = Profile
        fields = ["display_name", "language", "time_zone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zones = looks.zone_choices()
        site_zone = ("", _("The site's (%(zone)s)") % {"zone": settings.TIME_ZONE})
        self.fields["time_zone"].choices = [site_zone, *zones]  # type: ignore[attr-defined]  # a ChoiceField

    def clean_display_name(self) -> str:
        name = text.clean_name(self.cleaned_data["display_name"], gettext("A display name"))
        if len(name) > DISPLAY_NAME_MAX_LENGTH:
            raise forms.ValidationError(
                _("A display name can be at most %(max)d characters (this one has %(length)d)."),
                code="max_length",
                params={"max": DISPLAY_NAME_MAX_LENGTH, "length": len(name)},
            )
        return name


def reset_path(user) -> str:
    """The path of a password-reset link for `user`. It works once (its token is made from the password's
    hash and the last login, which it changes) and for PASSWORD_RESET_TIMEOUT."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


class PersonForm(forms.Form):
    """What the site admin does to an account on the people page."""

    DEACTIVATE, REACTIVATE, RESET_LINK = "deactivate", "reactivate", "reset_link"
    action = forms.ChoiceField(
        choices=[(DEACTIVATE, _("Deactivate")), (REACTIVATE, _("Reactivate")), (RESET_LINK, _("Reset link"))]
    )

    def __init__(self, *args, person, admin, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.person = person  # the account acted on
        self.admin = admin  # who acts

    def clean(self):
        action = self.cleaned_data.get("action")
        if action == self.DEACTIVATE and self.person.pk == self.admin.pk:
            # The site would be left without anyone to run it.
            raise forms.ValidationError(_("You cannot deactivate your own account."), code="self")
        if action == self.RESET_LINK and not self.person.is_active:
            raise forms.ValidationError(
                _("Reactivate %(name)s before making a reset link for them."),
                code="inactive",
                params={"name": self.person.get_username()},
            )
        return super().clean()

    def save(self) -> str | None:
        """Does the action; for a reset link, returns the link's path."""
        action = self.cleaned_data["action"]
        if action == self.RESET_LINK:
            return reset_path(self.person)
        self.person.is_active = action == self.REACTIVATE
        # Deactivating ends the person's sessions, and chat/accounts.py closes their sockets on this save.
        self.person.save(update_fields=["is_active"])
        return None


class UnlockForm(forms.Form):
    """Lifts a login lock listed on the people page (no username: the lock of the whole address)."""

    address = forms.GenericIPAddressField()
    username = forms.CharField(required=False, max_length=255, strip=False)

    def save(self) -> int:
        return login_throttle.unlock(self.cleaned_data["address"], self.cleaned_data["username"] or None)
