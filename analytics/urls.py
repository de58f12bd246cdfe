from django.urls import path

from analytics import views

urlpatterns = [
    path("", views.analytics, name="analytics"),
    path("export/<slug:chart_id>.csv", views.chart_csv, name="analytics-csv"),
]
