"""Error pages: JSON for API clients, HTML for people."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


def _error(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"success": False, "error": detail}, status=status)
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def refuse_nul_characters(get_response):
    """Middleware: a NUL character in the address or its query is a 400. PostgreSQL text cannot hold one, so a
    lookup or search carrying it (`?q=%00`, `/api/v1/contacts/a%00b/`) would otherwise fail in the database as a
    500. Form fields need no help: Django's form fields already refuse NUL."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any("\x00" in key + value for key, value in request.GET.items()):
            return _error(request, 400, "Bad request", "The address must not contain the NUL character (%00).")
        return get_response(request)

    return middleware


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    detail = str(exception) if exception and str(exception) else "You do not have the role this page needs."
    return _error(request, 403, "Not allowed", detail)


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing at this address.")


def server_error(request):
    return _error(request, 500, "Something went wrong", "The error has been logged.")
