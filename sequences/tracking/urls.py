from django.urls import path

from sequences.tracking import views

app_name = "tracking"
urlpatterns = [
    path("identify", views.identify, name="identify"),
    path("track", views.track, name="track"),
    path("page", views.page, name="page"),
    path("screen", views.screen, name="screen"),
    path("alias", views.alias, name="alias"),
    path("group", views.group, name="group"),
    path("batch", views.batch, name="batch"),
    # Segment documents /v1/import as the historical-import spelling of batch.
    path("import", views.batch, name="import"),
]
