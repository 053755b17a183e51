"""Django's admin for the site admin. Messages are edited and deleted through the same services as in the
chat, so open pages update live; rooms and people have their own pages in the chat (rooms.py, people.py)."""

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from . import services
from .live import events
from .models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "slug", "created_by", "last_activity_at", "last_seq"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]
    readonly_fields = ["last_seq", "last_change", "direct_key"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "created_at", "body"]
    list_filter = ["room"]
    search_fields = ["body", "author__username"]
    list_select_related = ["room", "author"]
    fields = ["room", "author", "body", "created_at", "edited_at", "deleted_at"]
    readonly_fields = ["room", "author", "created_at", "edited_at", "deleted_at"]
    actions = ["delete_for_everyone"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are sent in their rooms

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a message is deleted as in the chat, not its row
        return actions

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        if not change or "body" not in form.changed_data:
            return
        stored = Message.objects.select_related("room").get(pk=obj.pk)
        try:
            edited = services.edit_message(stored, request.user, form.cleaned_data["body"])
        except services.NotAllowed as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return
        # The admin's views run in a transaction: pages that read the change from the database (those of a look the
        # frame was not rendered in) must find it there.
        transaction.on_commit(partial(events.publish_message_changed, edited))

    def delete_model(self, request, obj: Message) -> None:
        self._delete(request, obj)

    @admin.action(description=gettext_lazy("Delete the selected messages for everyone"))
    def delete_for_everyone(self, request, queryset) -> None:
        for message in queryset.select_related("room"):
            self._delete(request, message)

    def _delete(self, request, message: Message) -> None:
        try:
            deleted = services.delete_message(message, request.user)
        except services.NotAllowed as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return
        transaction.on_commit(partial(events.publish_message_changed, deleted))
