from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Min
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers

from sequences.contact_search import search_contacts
from sequences.intent import active_scoring, current_intent
from sequences.intent_timeline import ScorePoint, intent_timeline, sparkline_points
from sequences.models import Contact, LifecycleStage
from triggerapp.roles import VIEWER, role_required

SPARKLINE_POINTS = 60  # recorded scores drawn: the latest ones
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
        contact.current_intent = current_intent(contact, config, now=now, explain=False)
    context = {"page": page, "query": query, "page_query": "&" + urlencode({"q": query}) if query else ""}
    # The live search box asks only for the results table; htmx restoring history wants the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "sequences/contact_list.html#results" if partial else "sequences/contact_list.html"
    return render(request, template, context)


@vary_on_headers("HX-Request")
@role_required(VIEWER)
def contact_detail(request, pk: int):
    # The intent card polls itself, so a marketer watching a live session sees its score move.
    if request.htmx and request.GET.get("part") == "intent":
        contact = get_object_or_404(Contact, pk=pk)
        return render(request, "sequences/contact_detail.html#intent", {"contact": contact, **_intent_context(contact)})
    contact = get_object_or_404(Contact.objects.prefetch_related("anonymous_ids"), pk=pk)
    context = {"contact": contact, **_intent_context(contact)}
    events = Paginator(contact.events.order_by("-occurred_at", "-pk"), 50).get_page(request.GET.get("page"))
    first_event_at = contact.events.aggregate(first=Min("occurred_at"))["first"]
    context.update(
        enrolments=contact.enrolments.select_related("sequence", "segment").order_by("-enrolled_at")[:20],
        messages=contact.messages.select_related("enrolment__sequence", "step").order_by("-send_at")[:50],
        events=events,
        first_seen_at=min(filter(None, [first_event_at, contact.created_at])),
        stage=LifecycleStage.objects.filter(slug=contact.lifecycle_stage).first(),
        # Traits already shown as profile fields are not repeated.
        other_traits={k: v for k, v in contact.traits.items() if k not in PROFILE_TRAITS},
    )
    return render(request, "sequences/contact_detail.html", context)


def _intent_context(contact: Contact) -> dict:
    _, config = active_scoring()
    now = timezone.now()
    recorded = list(contact.score_history.order_by("-scored_at")[:SPARKLINE_POINTS])[::-1]
    points = [ScorePoint(h.scored_at, h.score, h.tier) for h in recorded]
    if (
        contact.intent_scored_at
        and contact.intent_score is not None
        and (not points or contact.intent_scored_at > points[-1].at)
    ):  # the latest scoring, when it changed nothing worth a history row
        points.append(ScorePoint(contact.intent_scored_at, contact.intent_score, contact.intent_tier))
    timeline = intent_timeline(
        points,
        now=now,
        half_life_hours=config.half_life_hours,
        high=config.high_threshold,
        medium=config.medium_threshold,
    )
    return {
        "intent": current_intent(contact, config, now=now),
        "sparkline": sparkline_points(timeline.samples),
        "sparkline_since": recorded[0].scored_at if recorded else None,
        "tier_changes": timeline.changes[-6:][::-1],
        "triggers": contact.triggers.order_by("-occurred_at")[:20],
    }
