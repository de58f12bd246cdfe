"""django-anymail's ESP webhooks (bounces, complaints), mounted only when a webhook secret is configured.

Anymail accepts unauthenticated webhooks when ANYMAIL_WEBHOOK_SECRET is unset (it only warns); anyone could
then mark contacts bounced. Here every webhook answers 404 until the secret is set.
"""

from functools import wraps

from anymail.urls import urlpatterns as anymail_urlpatterns
from django.conf import settings
from django.http import Http404
from django.urls import URLPattern


def _requires_secret(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            raise Http404("ESP webhooks are off: set ANYMAIL_WEBHOOK_SECRET to turn them on.")
        return view(request, *args, **kwargs)

    return wrapped


urlpatterns = [
    URLPattern(pattern.pattern, _requires_secret(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urlpatterns
]
