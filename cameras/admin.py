from django.contrib import admin

from cameras.models import Camera, EdgeDevice, Shift, Zone
from tenants.admin import PlatformAdmin

for model in (EdgeDevice, Camera, Zone, Shift):
    admin.site.register(model, PlatformAdmin)
