from django.urls import path

from analytics.api import LiftView

urlpatterns = [path("lift/", LiftView.as_view(), name="analytics-lift")]
