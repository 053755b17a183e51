from django.contrib import admin

from .models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_by", "last_activity_at", "last_seq"]
    search_fields = ["name", "slug"]
    readonly_fields = ["last_seq"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "created_at", "body"]
    list_filter = ["room"]
    search_fields = ["body", "author__username"]
    readonly_fields = ["seq", "client_id"]
    list_select_related = ["room", "author"]
