from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Min
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from sequences.contact_search import search_contacts
from sequences.intent import active_scoring, current_intent
from sequences.models import Contact
from triggerapp.roles import VIEWER, role_required

PROFILE_TRAITS = {
    "email",
    "firstName",
    "first_name",
    "lastName",
    "last_name",
    "name",
    "timezone",
    "time_zone",
    "timeZone",
    "lifecycle_stage",
    "lifecycleStage",
}


# Full page and results partial share a URL: caches must tell them apart.
@vary_on_headers("HX-Request")
@role_required(VIEWER)
def contact_list(request):
    query = request.GET.get("q", "")
    contacts = search_contacts(Contact.objects.all(), query)
    page = Paginator(contacts, 25).get_page(request.GET.get("page"))
    _, config = active_scoring()
    now = timezone.now()
    for contact in page.object_list:
        contact.current_intent = current_intent(contact, config, now=now)
    context = {"page": page, "query": query, "page_query": "&" + urlencode({"q": query}) if query else ""}
    # The live search box asks only for the results table; htmx restoring history wants the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "sequences/contact_list.html#results" if partial else "sequences/contact_list.html"
    return render(request, template, context)


@role_required(VIEWER)
def contact_detail(request, pk: int):
    contact = get_object_or_404(Contact.objects.prefetch_related("anonymous_ids"), pk=pk)
    events = Paginator(contact.events.order_by("-occurred_at", "-pk"), 50).get_page(request.GET.get("page"))
    first_event_at = contact.events.aggregate(first=Min("occurred_at"))["first"]
    _, config = active_scoring()
    history = list(contact.score_history.order_by("-scored_at")[:60])[::-1]
    context = {
        "contact": contact,
        "intent": current_intent(contact, config, now=timezone.now()),
        "sparkline": sparkline_points([h.score for h in history]),
        "history": history,
        "tier_changes": [h for h in history if h.tier_changed][-5:][::-1],
        "triggers": contact.triggers.order_by("-occurred_at")[:20],
        "enrolments": contact.enrolments.select_related("sequence", "segment").order_by("-enrolled_at")[:20],
        "messages": contact.messages.select_related("enrolment__sequence", "step").order_by("-send_at")[:50],
        "events": events,
        "first_seen_at": min(filter(None, [first_event_at, contact.created_at])),
        # Traits already shown as profile fields are not repeated.
        "other_traits": {k: v for k, v in contact.traits.items() if k not in PROFILE_TRAITS},
    }
    return render(request, "sequences/contact_detail.html", context)


def sparkline_points(values: list[float], width: int = 200, height: int = 40) -> str:
    """SVG polyline points for scores 0-100, oldest on the left."""
    if len(values) < 2:
        return ""
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - value / 100 * height:.1f}" for i, value in enumerate(values))
