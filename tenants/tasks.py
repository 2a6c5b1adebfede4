from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from tenants.models import Invitation
from tenants.tasking import tenant_task


@tenant_task()
def invitation_send(*, tenant_id: int, invitation_id: int) -> None:
    invitation = Invitation.objects.select_related("tenant").get(id=invitation_id)
    link = f"{settings.PORTAL_BASE_URL}/invite/{invitation.token}/"
    send_mail(
        subject=f"You are invited to {invitation.tenant.name} on VADCloud",
        message=(
            f"You have been invited to join {invitation.tenant.name} as {invitation.get_role_display()}.\n"
            f"Accept the invitation: {link}\n"
            f"The link expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


from tenants.billing.tasks import billing_quantity_sync  # noqa: E402, F401  (registered with the worker)
