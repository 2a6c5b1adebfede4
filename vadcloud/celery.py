"""Celery app. Broker = REDIS_URL; without it tasks run eagerly in-process (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vadcloud.settings")

app = Celery("vadcloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
