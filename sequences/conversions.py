"""Orders coming back (shell): exit the enrolments they complete and credit the email that preceded them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sequences.enrolment import exit_on_order
from sequences.intent import NewEvent
from sequences.models import Account, EmailEvent, Enrolment, Message


def order_revenue(properties: dict) -> Decimal | None:
    for key in ("revenue", "total", "value"):
        value = properties.get(key)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return Decimal(str(value)).quantize(Decimal("0.01"))
            except InvalidOperation:
                continue
    return None


def order_cart_ids(properties: dict) -> set[str]:
    return {str(properties[key]) for key in ("cart_id", "checkout_id") if properties.get(key)}


def record_orders(orders: list[NewEvent], *, now: datetime) -> None:
    # Most buyers were never enrolled: one query finds those who were, and only their orders are looked at.
    enrolled = set(
        Enrolment.objects.filter(contact_id__in={order.contact_id for order in orders}).values_list(
            "contact_id", flat=True
        )
    )
    orders = [order for order in orders if order.contact_id in enrolled]
    if not orders:
        return
    window = timedelta(days=Account.current().attribution_days)
    for order in orders:
        exit_on_order(contact_id=order.contact_id, cart_ids=order_cart_ids(order.properties), now=now)
        # Last touch: the latest email sent (or withheld, for the control group) within the window before the order.
        credited = (
            Message.objects.filter(
                contact_id=order.contact_id,
                status__in=[Message.Status.SENT, Message.Status.WITHHELD],
                send_at__lte=order.occurred_at,
                send_at__gte=order.occurred_at - window,
            )
            .order_by("-send_at")
            .first()
        )
        if (
            credited is None
            or EmailEvent.objects.filter(
                message=credited, kind=EmailEvent.Kind.CONVERSION, details__message_id=order.message_id
            ).exists()
        ):
            continue
        EmailEvent.objects.create(
            message=credited,
            kind=EmailEvent.Kind.CONVERSION,
            occurred_at=order.occurred_at,
            revenue=order_revenue(order.properties),
            details={"message_id": order.message_id, "order_id": str(order.properties.get("order_id", ""))},
        )
