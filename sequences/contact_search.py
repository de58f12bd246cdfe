"""Contact search, shared by the contacts page and the API."""

from django.db.models import Q, QuerySet

from sequences.models import Contact


def search_contacts(queryset: QuerySet[Contact], text: str) -> QuerySet[Contact]:
    text = text.strip()[:200]
    queryset = queryset.order_by("-last_seen_at", "-pk")
    if not text:
        return queryset
    matches = Q(email__icontains=text) | Q(user_id__icontains=text) | Q(first_name__icontains=text)
    matches |= Q(last_name__icontains=text) | Q(anonymous_ids__value=text)
    first, _, last = text.partition(" ")
    if last:
        matches |= Q(first_name__icontains=first, last_name__icontains=last)
    return queryset.filter(matches).distinct()
