"""Tenants, their sites, and who belongs to which tenant with which role."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from compliance.jurisdictions import UnknownJurisdiction, jurisdiction_name
from tenants.scope import TenantOwned


class DataRegion(models.TextChoices):
    EU = "eu", "European Union"
    US = "us", "United States"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    VIEWER = "viewer", "Viewer"


class Tenant(models.Model):
    """A customer organisation. Not tenant-owned: it *is* the tenant."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    data_region = models.CharField(max_length=8, choices=DataRegion.choices, default=DataRegion.EU)
    require_2fa_for_managers = models.BooleanField(
        default=False, help_text="Owners and admins must sign in with a TOTP code (portal and session API).")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


def validate_jurisdiction(value: str) -> None:
    try:
        jurisdiction_name(value)
    except UnknownJurisdiction as err:
        raise ValidationError(str(err), code="unknown_jurisdiction") from None


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            f"unknown time zone {value!r}; use an IANA name such as 'America/Chicago'",
            code="unknown_timezone",
        )


class Site(TenantOwned):
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=500, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    jurisdiction = models.CharField(
        max_length=10,
        validators=[validate_jurisdiction],
        help_text="ISO 3166-1 alpha-2 (DE) or ISO 3166-2 (US-IL) code; drives the privacy policy.",
    )
    # City rules (Portland City Code 34.10, NYC Admin. Code 22-1202) need a finer place than
    # ISO 3166-2: compliance.rules matches the normalised locality against each city rule set's
    # names (e.g. "Portland" in US-OR, "New York City"/"NYC"/a borough in US-NY).
    locality = models.CharField(max_length=100, blank=True,
                                help_text="City or municipality, e.g. 'Portland' (US-OR) or 'New York City' (US-NY)")
    scene_images_allowed = models.BooleanField(
        default=False,
        help_text="The edge may upload a face-blurred background image of each camera (the only image that "
                  "ever leaves the site), for the zone editor and alert detail.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="site_name_unique_per_tenant")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.jurisdiction})"


class Membership(TenantOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    all_sites = models.BooleanField(
        default=True,
        help_text="False limits the member to sites granted with django-guardian (view_site).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="one_membership_per_user")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id}: {self.role}"


class Invitation(TenantOwned):
    email = models.EmailField()
    role = models.CharField(max_length=32, choices=Role.choices)
    token = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation {self.email} -> {self.tenant_id} as {self.role}"


class ApiToken(models.Model):
    """A personal API token (``Authorization: Bearer <secret>``). It belongs to a user, not to a
    tenant: the caller picks the tenant per request with ``X-Tenant: <slug>``, as a session does.

    Only ``sha256(secret)`` is stored; ``prefix`` (the first characters of the secret) lets the
    owner recognise a token in lists without revealing it. Revoked tokens are kept (``revoked_at``)
    so that a client still sending one is told it was revoked rather than that it is unknown.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="None: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_active")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of user {self.user_id}"


# Billing (Stripe) models live in their own module of the tenants app; imported here so Django
# registers them with the app and its migrations.
from tenants.billing.models import BillingAccount, BillingEvent  # noqa: E402, F401
