"""The Celery app: `celery -A triggerapp worker --beat` reads the same Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triggerapp.settings")

app = Celery("triggerapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
