"""The optional TOTP second factor (django-otp): reads and writes for one user's device, and the
tenant rule "owners and admins must use it" (``Tenant.require_2fa_for_managers``).

A user has at most one TOTP device. Setting up creates it unconfirmed (its secret is shown once per
page view, as an otpauth:// URI and as base32 text); a correct code confirms it. From then on the
login asks for a code after the password.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.errors import InvalidInput, NotAllowed
from tenants.models import Membership, Role, Tenant
from tenants.roles import Action, require

MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})
DEVICE_NAME = "authenticator app"


def second_factor_required(*, membership: Membership | None) -> bool:
    """Whether this membership's tenant asks its owners and admins for a second factor."""
    return (membership is not None and membership.role in MANAGER_ROLES
            and membership.tenant.require_2fa_for_managers)


def session_second_factor_verified(*, user: AbstractBaseUser, session: Any) -> bool:
    """Whether this login session was signed in with the user's confirmed second factor (what
    django-otp's middleware calls ``user.is_verified()``; websocket scopes do not run it)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed


def second_factor_required_anywhere(*, user: AbstractBaseUser) -> bool:
    """Whether any tenant of the user asks them (as owner or admin) for a second factor."""
    return Membership.unscoped_objects.filter(
        user=user, role__in=MANAGER_ROLES, tenant__require_2fa_for_managers=True).exists()


def totp_device(*, user: AbstractBaseUser) -> TOTPDevice | None:
    """The user's confirmed TOTP device, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_setup(*, user: AbstractBaseUser) -> TOTPDevice:
    """The user's unconfirmed device (created on first call, then reused until confirmed)."""
    if totp_device(user=user) is not None:
        raise InvalidInput("a second factor is already set up; remove it first to set up a new one")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def totp_secret_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed in (base32, groups of four)."""
    raw = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _clean(token: str) -> str:
    token = (token or "").replace(" ", "")
    if not (token.isdigit() and len(token) == 6):
        raise InvalidInput.field("otp_token", "enter the 6-digit code your authenticator app shows")
    return token


def totp_confirm(*, user: AbstractBaseUser, token: str) -> TOTPDevice:
    """Confirm the pending device with a code it produced; extra pending devices are dropped."""
    token = _clean(token)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            raise InvalidInput.field("otp_token", "there is no set-up in progress; start again")
        if not device.verify_token(token):
            raise InvalidInput.field("otp_token", "that code is not right (or too old): try the current one")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return device


def totp_check(*, user: AbstractBaseUser, token: str) -> TOTPDevice:
    """The user's device if ``token`` is its current code (the login's second step)."""
    token = _clean(token)
    device = totp_device(user=user)
    if device is None:
        raise InvalidInput.field("otp_token", "this account has no second factor")
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise InvalidInput.field("otp_token", "too many wrong codes: wait a little and try again")
    if not device.verify_token(token):
        raise InvalidInput.field("otp_token", "that code is not right (or too old): try the current one")
    return device


def totp_remove(*, user: AbstractBaseUser, token: str) -> None:
    """Remove the second factor (a current code proves the device is at hand); refused while a
    tenant of the user requires it."""
    if second_factor_required_anywhere(user=user):
        raise NotAllowed("a tenant you manage requires a second factor for owners and admins; it cannot be removed")
    totp_check(user=user, token=token)
    TOTPDevice.objects.filter(user=user).delete()


def tenant_second_factor_rule_set(*, member: Membership, required: bool) -> Tenant:
    """Turn the tenant rule on or off (owners and admins). Turning it on needs the acting member's
    own second factor first, so nobody locks themselves out of the page that turns it off."""
    from tenants.services import tenant_update

    require(member, Action.MANAGE_MEMBERS)
    if required and totp_device(user=member.user) is None:
        raise InvalidInput.field("require_2fa_for_managers",
                                 "set up your own second factor at /account/security/ before requiring it")
    return tenant_update(member=member, require_2fa_for_managers=required)
