"""The logout page: Django's LogoutView answers only POST, so a typed or bookmarked /logout/ got a blank 405."""

from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.shortcuts import redirect, render


class LogoutPage(LogoutView):
    """GET shows a page whose button posts (with its CSRF token); POST logs out as Django's view does.

    A GET must not log anyone out by itself: any page could then do it with an image or a link.
    """

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(settings.LOGIN_URL)  # nothing to log out of
        return render(request, "registration/logout.html")
