import secrets

from django.db import models
from django.utils import timezone


def new_write_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class WriteKeyQuerySet(models.QuerySet):
    def active(self) -> "WriteKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class WriteKey(models.Model):
    """A source's key for the tracking API (Segment calls it a write key: public, identifies the source)."""

    name = models.CharField(max_length=100)
    key = models.CharField(max_length=64, unique=True, default=new_write_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = WriteKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
