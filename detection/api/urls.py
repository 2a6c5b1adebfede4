from rest_framework.routers import SimpleRouter

from detection.api import views

router = SimpleRouter()
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = router.urls
