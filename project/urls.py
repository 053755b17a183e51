from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import health, installable, look_views, people, profile_views

# Django's account views by name, without the email-based password reset (this site sends no email):
# a forgotten password is reset through a link the site admin makes on the people page.
accounts = [
    path("signup/", people.signup, name="signup"),
    path("login/", people.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", profile_views.profile, name="profile"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

urlpatterns = [
    # For load balancers, orchestrators and Prometheus (chat/health.py): no login, never cached.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", look_views.set_language, name="set_language"),
    path("accounts/", include(accounts)),
    path("join/<str:code>/", people.join, name="join"),
    path("people/", people.people, name="people"),
    path("people/join-link/", people.regenerate_join_link, name="regenerate_join_link"),
    path("people/unlock/", people.unlock, name="unlock"),
    path("people/<int:pk>/", people.person, name="person"),
    # Installing the site as an app (chat/installable.py).
    path("manifest.webmanifest", installable.manifest, name="manifest"),
    path("favicon.ico", installable.favicon, name="favicon"),
    path("", include("chat.urls")),
]
