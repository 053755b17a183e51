from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("chat/<str:slug>/", views.room, name="room"),
    path("chat/<str:slug>/history/", views.history, name="history"),
]
