from rest_framework.routers import SimpleRouter

from detection.api import artifacts, views

router = SimpleRouter()
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("model-artifacts", artifacts.ModelArtifactViewSet, basename="model-artifact")

urlpatterns = router.urls
