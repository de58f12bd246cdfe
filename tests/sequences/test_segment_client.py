"""A real Segment client library, pointed at a live server, sends through /v1/batch unchanged."""

import pytest
from segment.analytics import Client

from sequences.models import Contact, Event


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gzip", [False, True])
def test_segment_analytics_python_delivers_a_session_to_the_timeline(live_server, write_key, account, gzip):
    errors = []
    analytics = Client(
        write_key.key,
        host=live_server.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )

    # given a visitor browsing anonymously who then logs in
    analytics.page(anonymous_id="anon-42", name="Home", properties={"url": "https://shop.example.com/"})
    analytics.track(
        anonymous_id="anon-42", event="Product Viewed", properties={"product_id": "sku-1", "category": "electronics"}
    )
    analytics.identify(user_id="u-42", anonymous_id="anon-42", traits={"email": "ada@example.com", "firstName": "Ada"})
    analytics.track(user_id="u-42", event="Checkout Started", properties={"cart_id": "cart-9"})
    # when the client flushes its queue (one POST /v1/batch)
    analytics.flush()
    analytics.join()

    # then one known contact holds the whole session
    assert errors == []
    contact = Contact.objects.get()
    assert (contact.user_id, contact.email, contact.first_name) == ("u-42", "ada@example.com", "Ada")
    assert list(contact.events.order_by("occurred_at", "pk").values_list("type", "name")) == [
        ("page", "Home"),
        ("track", "Product Viewed"),
        ("identify", ""),
        ("track", "Checkout Started"),
    ]
    assert Event.objects.filter(context__library__name="analytics-python").count() == 4
    assert len(set(contact.events.values_list("session_id", flat=True))) == 1
