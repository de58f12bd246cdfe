from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from sequences.views import email_tracking
from triggerapp.auth_pages import LogoutPage
from triggerapp.roles import VIEWER, role_required

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", LogoutPage.as_view(), name="logout"),
    # Any logged-in user, whatever their role: Django's views (old password asked, session kept).
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("v1/", include("sequences.tracking.urls")),
    path("api/v1/analytics/", include("analytics.api_urls")),
    path("api/v1/", include("sequences.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page for people: without a login, the login page (the schema itself, for programs, answers 401).
    path("api/docs/", role_required(VIEWER)(SpectacularSwaggerView.as_view(url_name="schema")), name="api-docs"),
    path("t/o/<str:token>.gif", email_tracking.open_pixel, name="track-open"),
    path("t/c/<str:token>/", email_tracking.click, name="track-click"),
    path("t/v/<str:token>/", email_tracking.view_in_browser, name="view-in-browser"),
    path("u/<str:token>/", email_tracking.unsubscribe, name="unsubscribe"),
    path("anymail/", include("triggerapp.esp_webhooks")),
    path("analytics/", include("analytics.urls")),
    path("", include("sequences.urls")),
]

handler400 = "triggerapp.errors.bad_request"
handler403 = "triggerapp.errors.permission_denied"
handler404 = "triggerapp.errors.page_not_found"
handler500 = "triggerapp.errors.server_error"
