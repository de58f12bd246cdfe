from rest_framework.routers import DefaultRouter

from sequences.api.views import ContactViewSet

router = DefaultRouter()
router.register("contacts", ContactViewSet, basename="contact")
urlpatterns = router.urls
