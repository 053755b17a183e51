from django.urls import path

from . import attachment_views, member_views, permalink_views, search_views, views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("chat/<str:slug>/", views.room, name="room"),
    path("direct/", member_views.direct, name="direct"),
    path("chat/<str:slug>/members/", member_views.room_members, name="room_members"),
    path("chat/<str:slug>/leave/", member_views.leave_room, name="leave_room"),
    path("chat/<str:slug>/history/", views.history, name="history"),
    # Without JavaScript: the composers and the reaction buttons post here (with it they send over the socket).
    path("chat/<str:slug>/send/", views.send_message, name="send"),
    path("chat/<str:slug>/react/", views.react, name="react"),
    path("chat/<str:slug>/messages/<int:pk>/", views.message, name="message"),
    path("chat/<str:slug>/messages/<int:pk>/edit/", views.edit_message, name="edit_message"),
    path("chat/<str:slug>/messages/<int:pk>/delete/", views.delete_message, name="delete_message"),
    path("me.css", views.user_css, name="user_css"),
    path("search/", search_views.search_page, name="search"),
    path("chat/<str:slug>/m/<int:pk>/", permalink_views.permalink, name="permalink"),
    path("chat/<str:slug>/around/<int:pk>/", permalink_views.around, name="around"),
    path("chat/<str:slug>/newer/", permalink_views.newer, name="newer"),
    path("chat/<str:slug>/attachments/", attachment_views.attach, name="attach"),
    # The thumbnail's address ends in "/", which no file name can hold: a file called "thumb" keeps its own.
    path("files/<int:pk>/thumb/", attachment_views.thumbnail, name="attachment_thumb"),
    path("files/<int:pk>/<str:name>", attachment_views.download, name="attachment"),
]
