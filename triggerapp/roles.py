"""Roles: admin > editor > viewer, stored as Django groups of the same names.

A superuser is an admin. A higher role can do everything a lower one can. Pages use `role_required`,
the API uses the `IsViewer` and `ViewerReadsEditorWrites` permission classes; all read `role_of`.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect
from rest_framework.permissions import SAFE_METHODS, BasePermission

VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
ROLES = (VIEWER, EDITOR, ADMIN)  # in rising order of power
ROLE_CHOICES = [(ADMIN, "Admin"), (EDITOR, "Editor"), (VIEWER, "Viewer")]


def stored_role(user) -> str | None:
    """The role the user's groups give, whether or not the account is active (prefetched groups are used)."""
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    return next((role for role in reversed(ROLES) if role in names), None)


def role_of(user) -> str | None:
    """The role the user acts with now: none for an anonymous or deactivated user."""
    if not user or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_triggerapp_role", False)
    if cached is not False:
        return cached
    user._triggerapp_role = stored_role(user)
    return user._triggerapp_role


def has_role(user, needed: str) -> bool:
    role = role_of(user)
    return role is not None and ROLES.index(role) >= ROLES.index(needed)


def set_role(user, role: str) -> None:
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    user._triggerapp_role = role


def role_required(needed: str) -> Callable:
    """Page decorator: anonymous users go to the login page, logged-in users without the role get a 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # A partial (a poll, a live search) would put the login page inside the page: send the
                    # whole window there, and back to the page the user was on.
                    return HttpResponseClientRedirect(redirect_to_login(request.htmx.current_url_abs_path or "/").url)
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, needed):
                raise PermissionDenied(f"This page needs the {needed} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class _RolePermission(BasePermission):
    needed = VIEWER

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, self.needed)


class IsViewer(_RolePermission):
    needed = VIEWER


class ViewerReadsEditorWrites(BasePermission):
    """Viewers may read; changing anything takes an editor."""

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, VIEWER if request.method in SAFE_METHODS else EDITOR)


def role_context(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "user_role": role_of(user),
        "is_editor": has_role(user, EDITOR),
        "is_admin": has_role(user, ADMIN),
    }
