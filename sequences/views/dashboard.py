from datetime import timedelta

from django.conf import settings
from django.db.models import Min, Sum
from django.shortcuts import render
from django.utils import timezone

from sequences.models import Contact, Event, QueuedBatch, RejectedEvent
from triggerapp.roles import VIEWER, role_required


@role_required(VIEWER)
def dashboard(request):
    now = timezone.now()
    since = now - timedelta(hours=24)
    pending = QueuedBatch.objects.filter(error="").aggregate(events=Sum("event_count"), oldest=Min("received_at"))
    set_aside = QueuedBatch.objects.exclude(error="").count()
    context = {
        # The tracking queue (TRACKING_QUEUE): events accepted, not yet stored and scored, and how far behind.
        "queue_shown": settings.TRACKING_QUEUE or pending["events"] or set_aside,
        "queued_events": pending["events"] or 0,
        "queue_lag_seconds": (now - pending["oldest"]).total_seconds() if pending["oldest"] else 0,
        "set_aside_batches": set_aside,
        "contact_count": Contact.objects.count(),
        "known_count": Contact.objects.filter(user_id__isnull=False).count(),
        "events_24h": Event.objects.filter(received_at__gte=since).count(),
        "rejected_24h": RejectedEvent.objects.filter(received_at__gte=since).count(),
        "recent_events": Event.objects.select_related("contact").order_by("-received_at")[:15],
    }
    return render(request, "sequences/dashboard.html", context)
