from typing import cast

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import limits, looks, profiles, rooms, text
from .models import Message, Room

# From the model field: the form, the socket and the pages' inputs (templatetags/limits.py) share it.
MESSAGE_MAX_LENGTH = cast(int, Message._meta.get_field("body").max_length)
# The error code of a form refused by a rate limit (answered with 429).
RATE_LIMITED = "rate_limited"
# What someone sending faster than the flood control allows is told (socket frames, and the forms that post
# messages and reactions without JavaScript: limits.allow_post).
TOO_FAST = _("You are sending too fast. Wait a moment and try again.")


def first_error(form: forms.Form) -> str:
    """The first thing wrong with a form, to show in one line (a composer's error area, a socket's error frame)."""
    for errors in form.errors.values():
        return str(errors[0])
    return gettext("Invalid input.")


class RoomForm(forms.Form):
    """Creates a room (open unless `kind` says closed) or, given `room`, renames it."""

    name = forms.CharField(label=_("Room name"), max_length=80, strip=True)
    kind = forms.ChoiceField(
        label=_("Who can see it"),
        # Room.Kind's labels, translated here (the model's are plain text).
        choices=[
            (Room.Kind.OPEN, _("Open: everyone can see and join it")),
            (Room.Kind.CLOSED, _("Closed: only the members it is shared with")),
        ],
        widget=forms.RadioSelect,
        required=False,  # a form without it (the name alone) creates an open room
    )

    def __init__(self, *args, room: Room | None = None, creator=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.room = room  # the room being renamed, if any
        self.creator = creator  # who creates a new room, if that is what this form does
        if room is not None:
            del self.fields["kind"]  # a room keeps its kind
        else:
            self.fields["kind"].initial = Room.Kind.OPEN

    def clean_name(self) -> str:
        name = text.clean_name(self.cleaned_data["name"], gettext("A room name"))
        named = Room.objects.exclude(kind=Room.Kind.DIRECT)
        others = named.exclude(pk=self.room.pk) if self.room else named
        if others.filter(name__iexact=name).exists():
            raise forms.ValidationError(gettext("A room with this name already exists."))
        return name

    def clean(self):
        if self.creator is not None and not self.errors and not limits.allow_new_room(self.creator.pk):
            raise forms.ValidationError(
                gettext("You have created many rooms in a short time. Wait a while before creating another."),
                code=RATE_LIMITED,
            )
        return super().clean()

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or Room.Kind.OPEN


class MessageField(forms.CharField):
    def to_python(self, value) -> str | None:
        # A form post sends a textarea's line breaks as CRLF: one line break is one character of the limit.
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


class MessageForm(forms.Form):
    """The composer's fields as they arrive over the socket or, without JavaScript, as a form post (given its
    `sender`, whose flood control the socket applies to every frame instead); or the edit form's."""

    # strip=True trims the ends only: a code block's indented lines inside keep their spaces.
    message = MessageField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=True,
        error_messages={
            "required": _("Type a message before sending."),
            "max_length": _("Messages can be at most %(limit_value)d characters (this one has %(show_value)d)."),
        },
    )
    client_id = forms.UUIDField(required=False)

    def __init__(self, *args, sender=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sender = sender  # who posts it as a form (views.send_message), if that is how it came

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
        if not text.has_visible_text(message):
            raise forms.ValidationError(self.fields["message"].error_messages["required"], code="required")
        return message

    def clean(self):
        if self.sender is not None and not self.errors and not limits.allow_post(self.sender.pk):
            raise forms.ValidationError(TOO_FAST, code=RATE_LIMITED)
        return super().clean()


class ReactionForm(forms.Form):
    """A reaction button pressed: its value is "<message id> <emoji>", one field because a button submits only its
    own value (a plain form without JavaScript; the ws extension sends the same value over the socket). Whether
    the emoji is offered and the message there is services.toggle_reaction's to say."""

    reaction = forms.CharField(max_length=40, error_messages={"required": _("That reaction is not offered.")})

    def clean_reaction(self) -> tuple[int, str]:
        message_id, _, emoji = self.cleaned_data["reaction"].partition(" ")
        if not (message_id.isascii() and message_id.isdigit() and len(message_id) < 19 and emoji):
            raise forms.ValidationError(gettext("That reaction is not offered."))
        return int(message_id), emoji


class CatchUpForm(forms.Form):
    """What the page already shows, sent by the page each time its socket opens."""

    last_change = forms.IntegerField(min_value=0, required=False)
    # The message its "New messages" divider follows (none: no divider).
    unread_after = forms.IntegerField(min_value=0, required=False)


class SignUpForm(UserCreationForm):
    # Offered as the usual zone of the browser's language (looks.usual_zone); changed later on the profile page.
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False)

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # django-stubs does not declare it
        fields = ["username"]

    def __init__(self, *args, address: str = "", language: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.address = address  # where the request came from (limits.client_address)
        self.fields["time_zone"].choices = looks.zone_choices()  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["time_zone"].initial = looks.usual_zone(language)

    def clean_username(self) -> str:
        self.cleaned_data["username"] = text.clean_name(self.cleaned_data["username"], gettext("A username"))
        return super().clean_username()  # refuses a name taken in another case too

    def clean(self):
        if not self.errors and not limits.allow_sign_up(self.address):
            raise forms.ValidationError(
                gettext("Many accounts were created from your network just now. Wait a few minutes and try again."),
                code=RATE_LIMITED,
            )
        return super().clean()


class PeopleField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{profiles.display_name(obj)} ({obj.get_username()})"


class DirectRoomForm(forms.Form):
    """Start (or find again) a direct conversation by picking people."""

    people = PeopleField(
        label=_("With whom"),
        queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Pick at least one person.")},
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        people = get_user_model().objects.filter(is_active=True).exclude(pk=user.pk).select_related("profile")
        self.fields["people"].queryset = people.order_by("username")  # type: ignore[attr-defined]

    def clean_people(self) -> list:
        people = list(self.cleaned_data["people"])
        if len(people) > rooms.DIRECT_MAX_PEOPLE - 1:
            most = rooms.DIRECT_MAX_PEOPLE - 1
            raise forms.ValidationError(
                ngettext("Pick at most %(most)d person.", "Pick at most %(most)d people.", most) % {"most": most}
            )
        return people


class MemberForm(forms.Form):
    """A room admin adds, removes or promotes a member of a closed room."""

    ACTIONS = ("add", "remove", "make_admin")
    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS])
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.all(), error_messages={"invalid_choice": _("No such person.")}
    )
