from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from sequences.models import Contact, Event, RejectedEvent
from triggerapp.roles import VIEWER, role_required


@role_required(VIEWER)
def dashboard(request):
    since = timezone.now() - timedelta(hours=24)
    context = {
        "contact_count": Contact.objects.count(),
        "known_count": Contact.objects.filter(user_id__isnull=False).count(),
        "events_24h": Event.objects.filter(received_at__gte=since).count(),
        "rejected_24h": RejectedEvent.objects.filter(received_at__gte=since).count(),
        "recent_events": Event.objects.select_related("contact").order_by("-received_at")[:15],
    }
    return render(request, "sequences/dashboard.html", context)
