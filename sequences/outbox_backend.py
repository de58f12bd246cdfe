"""An email backend that "sends" into the database outbox (EMAIL_BACKEND=sequences.outbox_backend.EmailBackend).

The zero-setup demo uses it so that every email the sequences send can be read on the Outbox page.
"""

from django.core.mail.backends.base import BaseEmailBackend

from sequences.models import OutboxEmail


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        rows = []
        for email in email_messages:
            html = next(
                (content for content, mimetype in getattr(email, "alternatives", []) if mimetype == "text/html"), ""
            )
            rows.append(
                OutboxEmail(
                    message_id_header=email.extra_headers.get("Message-ID", ""),
                    to=", ".join(email.to),
                    from_email=email.from_email,
                    subject=email.subject,
                    headers=dict(email.extra_headers),
                    text=email.body,
                    html=html,
                )
            )
        OutboxEmail.objects.bulk_create(rows)
        return len(rows)
