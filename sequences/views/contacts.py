from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from sequences.contact_search import search_contacts
from sequences.models import Contact
from triggerapp.roles import VIEWER, role_required


@role_required(VIEWER)
def contact_list(request):
    query = request.GET.get("q", "")
    contacts = search_contacts(Contact.objects.all(), query)
    page = Paginator(contacts, 25).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "page_query": "&" + urlencode({"q": query}) if query else ""}
    # The live search box asks only for the results table.
    template = "sequences/contact_list.html#results" if request.htmx else "sequences/contact_list.html"
    return render(request, template, context)


@role_required(VIEWER)
def contact_detail(request, pk: int):
    contact = get_object_or_404(Contact.objects.prefetch_related("anonymous_ids"), pk=pk)
    events = Paginator(contact.events.order_by("-occurred_at", "-pk"), 50).get_page(request.GET.get("page"))
    return render(request, "sequences/contact_detail.html", {"contact": contact, "events": events})
