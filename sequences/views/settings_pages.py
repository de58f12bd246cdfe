"""Admin pages: write keys, rejected events, users and roles, account settings."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from sequences.forms import AccountForm, LifecycleStageForm, RoleForm, UserCreateForm, WriteKeyForm
from sequences.models import Account, LifecycleStage, QueuedBatch, RejectedEvent, WriteKey
from triggerapp.roles import ADMIN, ROLE_CHOICES, role_required, set_role, stored_role


@role_required(ADMIN)
def write_keys(request):
    form = WriteKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = form.save()
        messages.success(request, f"Write key “{key.name}” created.")
        return redirect("write-keys")
    return render(request, "sequences/write_keys.html", {"form": form, "write_keys": WriteKey.objects.all()})


@role_required(ADMIN)
@require_POST
def write_key_revoke(request, pk: int):
    key = get_object_or_404(WriteKey, pk=pk)
    key.revoke()
    messages.success(request, f"Write key “{key.name}” revoked: events sent with it are now refused.")
    return redirect("write-keys")


@role_required(ADMIN)
def rejected_events(request):
    page = Paginator(RejectedEvent.objects.select_related("source"), 50).get_page(request.GET.get("page"))
    # Accepted batches an ingest worker could not store (a bug, not bad input): kept until retried.
    set_aside = QueuedBatch.objects.exclude(error="").select_related("source").defer("events").order_by("id")
    return render(request, "sequences/rejected_events.html", {"page": page, "set_aside": set_aside[:100]})


@role_required(ADMIN)
@require_POST
def queued_batch_retry(request, pk: int):
    batch = get_object_or_404(QueuedBatch.objects.exclude(error="").defer("events"), pk=pk)
    QueuedBatch.objects.filter(pk=batch.pk).update(error="")
    messages.success(request, f"Batch of {batch.event_count} events queued again: the ingest workers will retry it.")
    return redirect("rejected-events")


@role_required(ADMIN)
@require_POST
def queued_batches_retry_all(request):
    count = QueuedBatch.objects.exclude(error="").update(error="")
    messages.success(request, f"{count} set-aside batch{'es' if count != 1 else ''} queued again.")
    return redirect("rejected-events")


def _lock_admins(request) -> None:
    """Serialise the changes that can take an active admin away (deactivating, demoting).

    Without it two admins demoting or deactivating each other at the same moment would each still count the
    other and both succeed, leaving nobody able to manage users. FOR NO KEY UPDATE on the admin group's row
    queues those changes behind each other without blocking anyone being added to a group.
    """
    group, _ = Group.objects.get_or_create(name=ADMIN)
    Group.objects.select_for_update(no_key=True).filter(pk=group.pk).exists()
    # The acting admin, read again under the lock: one demoted or deactivated a moment ago acts no more.
    if not _is_active_admin(get_user_model().objects.prefetch_related("groups").get(pk=request.user.pk)):
        raise PermissionDenied("You are no longer an admin.")


def _is_active_admin(user) -> bool:
    return user.is_active and stored_role(user) == ADMIN


def _another_active_admin(user) -> bool:
    admins = get_user_model().objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(groups__name=ADMIN))
    return admins.exclude(pk=user.pk).exists()


@role_required(ADMIN)
def users(request):
    User = get_user_model()
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            _lock_admins(request)  # an admin demoted a moment ago creates no one (an admin least of all)
            user = User.objects.create_user(username=data["username"], email=data["email"], password=data["password"])
            set_role(user, data["role"])
        messages.success(request, f"User {user.username} created as {data['role']}.")
        return redirect("users")
    everyone = User.objects.order_by("-is_active", "username").prefetch_related("groups")
    people = [(user, stored_role(user)) for user in everyone]
    context = {"form": form, "people": people, "role_choices": ROLE_CHOICES}
    return render(request, "sequences/users.html", context)


@role_required(ADMIN)
@require_POST
def user_role(request, pk: int):
    form = RoleForm(request.POST)
    role = form.cleaned_data["role"] if form.is_valid() else None
    with transaction.atomic():
        _lock_admins(request)
        user = get_object_or_404(get_user_model(), pk=pk)  # read under the lock: current role and status
        if role is None:
            messages.error(request, "Choose admin, editor or viewer.")
        elif user == request.user and role != ADMIN:
            messages.error(request, "You cannot take the admin role from yourself.")
        elif user.is_superuser:
            messages.error(request, f"{user.username} is a superuser and always an admin.")
        elif role != ADMIN and _is_active_admin(user) and not _another_active_admin(user):
            messages.error(request, f"{user.username} is the last active admin: make someone else an admin first.")
        else:
            set_role(user, role)
            messages.success(request, f"{user.username} is now {role}.")
    return redirect("users")


@role_required(ADMIN)
@require_POST
def user_deactivate(request, pk: int):
    with transaction.atomic():
        _lock_admins(request)
        user = get_object_or_404(get_user_model(), pk=pk)  # read under the lock: current role and status
        if user == request.user:
            messages.error(request, "You cannot deactivate yourself: another admin has to do it.")
        elif _is_active_admin(user) and not _another_active_admin(user):
            messages.error(request, f"{user.username} is the last active admin: make someone else an admin first.")
        else:
            # is_active=False is enough: the login form, browser sessions (checked on every request) and API
            # tokens (DRF's TokenAuthentication) all refuse inactive users. Nothing is deleted, so
            # reactivating gives back the same role, password and tokens.
            get_user_model().objects.filter(pk=user.pk).update(is_active=False)
            messages.success(
                request, f"{user.username} is deactivated: they cannot log in and their API tokens are refused."
            )
    return redirect("users")


@role_required(ADMIN)
@require_POST
def user_reactivate(request, pk: int):
    with transaction.atomic():
        _lock_admins(request)
        user = get_object_or_404(get_user_model(), pk=pk)
        get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    messages.success(request, f"{user.username} is active again and can log in with their password.")
    return redirect("users")


@sensitive_post_parameters("new_password1", "new_password2")  # kept out of error reports
@role_required(ADMIN)
def user_password(request, pk: int):
    user = get_object_or_404(get_user_model(), pk=pk)
    if user == request.user:
        # Your own password needs your old one: someone at your unlocked screen must not be able to change it.
        return redirect("password_change")
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(
            request, f"New password set for {user.username}. Anyone logged in as {user.username} was logged out."
        )
        return redirect("users")
    return render(request, "sequences/user_password.html", {"form": form, "person": user})


@role_required(ADMIN)
def account(request):
    current = Account.current()
    form = AccountForm(instance=current)
    stage_form = LifecycleStageForm()
    if request.method == "POST" and request.POST.get("form") == "account":
        form = AccountForm(request.POST, instance=current)
        if form.is_valid():
            form.save()
            messages.success(request, "Account settings saved.")
            return redirect("account")
    elif request.method == "POST" and request.POST.get("form") == "stage":
        stage_form = LifecycleStageForm(request.POST)
        if stage_form.is_valid():
            stage_form.save()
            messages.success(request, "Lifecycle stage added.")
            return redirect("account")
    context = {"form": form, "stage_form": stage_form, "stages": LifecycleStage.objects.all()}
    return render(request, "sequences/account.html", context)


@role_required(ADMIN)
@require_POST
def stage_delete(request, pk: int):
    stage = get_object_or_404(LifecycleStage, pk=pk)
    stage.delete()
    messages.success(request, f"Lifecycle stage “{stage.name}” removed.")
    return redirect("account")
