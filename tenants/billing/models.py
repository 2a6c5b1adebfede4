"""Billing state of a tenant and the Stripe events received. Imported by ``tenants.models`` (app ``tenants``)."""

from __future__ import annotations

from django.db import models

from tenants.scope import TenantOwned


class SubscriptionStatus(models.TextChoices):
    NONE = "none", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete (expired)"
    PAUSED = "paused", "Paused"


#: Statuses in which the plan's camera limit applies (the plan is paid for or being paid for).
PLAN_STATUSES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE,
                           SubscriptionStatus.UNPAID})


class BillingAccount(TenantOwned):
    """One per tenant, created on first use. Changed only by ``tenants.billing.services``."""

    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_item_id = models.CharField(max_length=255, blank=True)
    plan = models.CharField(max_length=32, blank=True, help_text="tenants.billing.plans key; blank: no plan")
    status = models.CharField(max_length=24, choices=SubscriptionStatus.choices, default=SubscriptionStatus.NONE)
    # The Stripe ``created`` time (epoch seconds) of the event whose state is applied: an older
    # event arriving later does not move the state backwards.
    state_event_created = models.BigIntegerField(default=0)
    payment_event_created = models.BigIntegerField(default=0)  # the same, for invoice events
    payment_failed_at = models.DateTimeField(null=True, blank=True,
                                             help_text="first failed payment not yet paid; starts the grace period")
    quantity_synced = models.PositiveIntegerField(null=True, blank=True,
                                                  help_text="the subscription quantity last confirmed by Stripe")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_billing_account_per_tenant")]

    def __str__(self) -> str:
        return f"billing of tenant {self.tenant_id}: {self.plan or 'no plan'} ({self.status})"


class BillingEvent(models.Model):
    """Each Stripe event id, stored in the transaction that processes it: processed exactly once.

    Not tenant-owned: the event is stored before (and whether or not) a tenant is found for it.
    Read only by the webhook (``BillingEvent.objects`` is a plain manager; platform data).
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="Stripe's event time, epoch seconds")
    # The tenant the event was applied to, as a plain id (no foreign key): this is Stripe's log on
    # the platform, kept when a tenant is deleted and never served through a tenant's API.
    tenant_ref = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}: {self.outcome}"
