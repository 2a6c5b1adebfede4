from django.contrib import admin

from detection.models import Alert
from tenants.admin import PlatformAdmin

admin.site.register(Alert, PlatformAdmin)
