from rest_framework.routers import SimpleRouter

from cameras.api import views

router = SimpleRouter()
router.register("cameras", views.CameraViewSet, basename="camera")
router.register("zones", views.ZoneViewSet, basename="zone")
router.register("devices", views.DeviceViewSet, basename="device")
router.register("shifts", views.ShiftViewSet, basename="shift")

urlpatterns = router.urls
