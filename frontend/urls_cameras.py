"""Portal pages: cameras (frontend/views_cameras.py). Included from frontend/urls.py."""

from django.urls import path

from frontend import views_cameras as views

urlpatterns: list = [
    path("cameras/", views.camera_list_page, name="portal-camera-list"),
    path("cameras/<int:camera_id>/", views.camera_detail_page, name="portal-camera-detail"),
    path("cameras/<int:camera_id>/zones/", views.camera_zones_page, name="portal-camera-zones"),
    path("devices/", views.device_list_page, name="portal-device-list"),
    path("devices/<int:device_id>/", views.device_detail_page, name="portal-device-detail"),
]
