"""The Celery app: `celery -A triggerapp worker --beat` reads the same Django settings."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggerapp.settings")

app = Celery("triggerapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes every database connection before and after each task unless told to reuse them:
# a new PostgreSQL backend (a fork, authentication, cold catalog caches, statements prepared again) for every
# chunk of 100 emails, six or more a second while sending. Connections are reused instead, and closed between
# tasks the way Django closes them between requests: past CONN_MAX_AGE, after an error, or when the health
# check finds them dead. The fixup still closes those a new pool process inherits.
app.conf.CELERY_DB_REUSE_MAX = 2**62


@signals.task_prerun.connect
@signals.task_postrun.connect
def close_old_database_connections(sender=None, **kwargs) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline by the caller (tests, CELERY_TASK_ALWAYS_EAGER): its connection, its transaction
    from django.db import close_old_connections

    close_old_connections()
