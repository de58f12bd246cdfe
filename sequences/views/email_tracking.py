"""Public endpoints reached from emails: open pixel, click redirect, one-click unsubscribe (RFC 8058).

No login (recipients are not users), so every link is signed: a forged or altered token gets a 404, and a
click can only go to a URL the message itself contains.
"""

from __future__ import annotations

import base64

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sequences.copy_rendering import contact_copy_facts, render_variant
from sequences.copy_templates import CopyTemplateError
from sequences.email_assembly import track_links
from sequences.email_feedback import record_email_event, unsubscribe_contact
from sequences.models import Account, EmailEvent, Message
from sequences.tracking_links import read_click, read_open, read_unsubscribe, read_view, unsubscribe_url

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Mail privacy proxies fetch images themselves; their opens say nothing about a person.
MACHINE_AGENTS = ("GoogleImageProxy", "YahooMailProxy", "Apple-Mail-Privacy", "ggpht.com")


def open_pixel(request, token: str):
    message_id = read_open(token)
    message = Message.objects.filter(pk=message_id, status=Message.Status.SENT).first() if message_id else None
    if message is not None:
        agent = request.headers.get("User-Agent", "")
        early = message.sent_at and (timezone.now() - message.sent_at).total_seconds() < 2
        record_email_event(
            message, EmailEvent.Kind.OPEN, machine_open=any(a in agent for a in MACHINE_AGENTS) or bool(early)
        )
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


def click(request, token: str):
    decoded = read_click(token)
    if decoded is None:
        raise Http404("Unknown link.")
    message_id, index = decoded
    message = Message.objects.filter(pk=message_id).first()
    if message is None or not 0 <= index < len(message.links):
        raise Http404("Unknown link.")
    url = message.links[index]
    record_email_event(message, EmailEvent.Kind.CLICK, url=url)
    return HttpResponseRedirect(url)


@csrf_exempt  # RFC 8058 one-click: the mail provider POSTs without a session; the signed token is the proof
def unsubscribe(request, token: str):
    message_id = read_unsubscribe(token)
    message = Message.objects.select_related("contact").filter(pk=message_id).first() if message_id else None
    if message is None:
        raise Http404("Unknown link.")
    if request.method == "POST":
        unsubscribe_contact(message, source="one-click" if "List-Unsubscribe" in request.POST else "page")
        return render(request, "sequences/unsubscribed.html", {"email": message.contact.email})
    return render(request, "sequences/unsubscribe_confirm.html", {"email": message.contact.email, "token": token})


def view_in_browser(request, token: str):
    """The sent email as a web page: the variant it got, rendered again for its contact, links tracked."""
    message_id = read_view(token)
    message = (
        Message.objects.select_related("contact", "enrolment__trigger", "copy_variant")
        .filter(pk=message_id, status=Message.Status.SENT, copy_variant__isnull=False)
        .first()
        if message_id
        else None
    )
    if message is None:
        raise Http404("Unknown link.")
    facts = contact_copy_facts(message.contact, message.enrolment.trigger, Account.current())
    try:
        rendered = render_variant(
            message.copy_variant, facts, unsubscribe_url=unsubscribe_url(message.pk), view_in_browser_url=""
        )
    except CopyTemplateError:
        raise Http404("This email can no longer be shown.") from None
    html, _ = track_links(rendered.html, message.pk, known_links=message.links)
    response = HttpResponse(html)
    # Copy is sanitised already; this is a second wall: no script runs on this page whatever it contains.
    response["Content-Security-Policy"] = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'"
    return response
