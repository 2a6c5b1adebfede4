"""Billing: Checkout and the Customer Portal for owners, webhook processing, plan enforcement.

- Owners only (``NotAllowed`` for every other role); the account is the active tenant's, so
  another tenant's billing is out of reach (the API's tenant resolution answers 404).
- Webhook events are stored by id in the transaction that applies them: a duplicate or replay
  hits the unique constraint and is a no-op; a failure rolls the record back so Stripe retries.
  Events older than the applied state (Stripe's ``created``) do not move it backwards.
- Enforcement is a no-op while billing is off (no ``STRIPE_SECRET_KEY``).
- ``tenants`` imports no other app (DESIGN.md floors): cameras are counted through
  ``apps.get_model`` and the camera services call in here, never the other way round.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.audit import audit_record, snapshot
from tenants.billing import stripe_api
from tenants.billing.models import PLAN_STATUSES, BillingAccount, BillingEvent, SubscriptionStatus
from tenants.billing.plans import (
    PLANS,
    PLANS_BY_KEY,
    Plan,
    available_plans,
    billing_enabled,
    free_cameras,
    grace_days,
    plan_for_price,
)
from tenants.errors import Conflict, InvalidInput, NotAllowed, PaymentRequired, VadError
from tenants.models import Membership, Role, Tenant
from tenants.scope import tenant_scope

log = logging.getLogger(__name__)

ACCOUNT_AUDIT = ("plan", "status", "stripe_customer_id", "stripe_subscription_id", "payment_failed_at")
HANDLED_EVENTS = ("checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
                  "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed")
NOT_CONFIGURED = "billing is not configured on this installation (STRIPE_SECRET_KEY is unset); nothing is billed or limited"


class BillingUnavailable(VadError):
    """Stripe could not be reached or refused the call; try again later."""

    http_status = 503
    ws_code = 4503


# --- reading ------------------------------------------------------------------------------------
def _require_owner(member: Membership) -> None:
    if member.role != Role.OWNER:
        label = Role(member.role).label.lower() if member.role in Role.values else repr(member.role)
        raise NotAllowed(f"only the tenant's owners manage billing; your role is {label}")


def _account(tenant_id: int, *, lock: bool = False) -> BillingAccount:
    """The tenant's account, created on first use (race-safe: one per tenant, unique constraint)."""
    with tenant_scope(tenant_id):
        qs = BillingAccount.objects.select_for_update() if lock else BillingAccount.objects
        account = qs.filter(tenant_id=tenant_id).first()
        if account is None:
            try:
                with transaction.atomic():
                    account = BillingAccount.objects.create(tenant_id=tenant_id)
            except IntegrityError:
                account = qs.get(tenant_id=tenant_id)
        return account


def _camera_count(tenant_id: int) -> int:
    with tenant_scope(tenant_id):
        return apps.get_model("cameras", "Camera").objects.count()


def _plan_of(account: BillingAccount) -> Plan | None:
    if account.status not in PLAN_STATUSES:
        return None
    return PLANS_BY_KEY.get(account.plan)


def camera_limit(account: BillingAccount) -> int | None:
    """The cameras the tenant may have: its plan's limit, or the free allowance without a plan."""
    plan = _plan_of(account)
    if plan is None:
        return free_cameras()
    return plan.max_cameras


def grace_ends_at(account: BillingAccount) -> datetime | None:
    if account.payment_failed_at is None:
        return None
    return account.payment_failed_at + timedelta(days=grace_days())


def is_read_only(account: BillingAccount) -> bool:
    ends = grace_ends_at(account)
    return ends is not None and timezone.now() >= ends


def billing_summary(*, member: Membership) -> dict[str, Any]:
    """What the owner sees: plan, status, cameras against the limit, grace period, plans to buy."""
    _require_owner(member)
    cameras = _camera_count(member.tenant_id)
    if not billing_enabled():
        return {"configured": False, "detail": NOT_CONFIGURED, "plan": None, "status": SubscriptionStatus.NONE.value,
                "cameras": cameras, "camera_limit": None, "read_only": False, "grace_ends_at": None,
                "plans": [], "can_manage": False}
    account = _account(member.tenant_id)
    plan = _plan_of(account)
    return {
        "configured": True, "detail": "",
        "plan": plan.key if plan else None, "status": account.status, "cameras": cameras,
        "camera_limit": camera_limit(account), "read_only": is_read_only(account),
        "payment_failed_at": account.payment_failed_at, "grace_ends_at": grace_ends_at(account),
        "plans": [{"key": p.key, "label": p.label, "max_cameras": p.max_cameras, "current": plan is p}
                  for p in available_plans()],
        "can_manage": bool(account.stripe_customer_id),
    }


# --- owners: Checkout and the Customer Portal ----------------------------------------------------
def _require_enabled() -> None:
    if not billing_enabled():
        raise Conflict(NOT_CONFIGURED)


def _stripe_call(what: str, call: Any) -> Any:
    try:
        return call()
    except stripe.StripeError as err:
        log.warning("stripe %s failed: %s", what, err)
        raise BillingUnavailable(f"Stripe could not {what} ({type(err).__name__}: {err.user_message or err}); "
                                 f"try again in a moment") from None


def billing_checkout_start(*, member: Membership, plan: str) -> str:
    """A Stripe Checkout session for ``plan``, priced per camera; returns the URL to send the owner to."""
    _require_owner(member)
    _require_enabled()
    chosen = PLANS_BY_KEY.get(plan)
    if chosen is None or not chosen.price_id:
        raise InvalidInput.field("plan", f"unknown plan {plan!r}; available: {[p.key for p in available_plans()]}")
    account = _account(member.tenant_id)
    if _plan_of(account) is not None:
        raise Conflict(f"the tenant already has the {account.plan} plan ({account.status}); change plan or payment "
                       f"method in the Customer Portal (POST /api/v1/billing/portal/)")
    base = settings.PORTAL_BASE_URL.rstrip("/")
    session = _stripe_call("start Checkout", lambda: stripe_api.checkout_session_create(
        price_id=chosen.price_id, quantity=_camera_count(member.tenant_id), tenant_id=member.tenant_id,
        customer_id=account.stripe_customer_id, success_url=f"{base}/billing/?checkout=success",
        cancel_url=f"{base}/billing/?checkout=cancel"))
    audit_record(tenant_id=member.tenant_id, action="billing.checkout_start", actor=member, target=account,
                 plan=chosen.key, session=session["id"])
    return session["url"]


def billing_portal_open(*, member: Membership) -> str:
    """A Stripe Customer Portal session (payment method, invoices, plan changes, cancellation)."""
    _require_owner(member)
    _require_enabled()
    account = _account(member.tenant_id)
    if not account.stripe_customer_id:
        raise Conflict("the tenant has no Stripe customer yet; choose a plan first (POST /api/v1/billing/checkout/)")
    base = settings.PORTAL_BASE_URL.rstrip("/")
    session = _stripe_call("open the Customer Portal", lambda: stripe_api.portal_session_create(
        customer_id=account.stripe_customer_id, return_url=f"{base}/billing/"))
    audit_record(tenant_id=member.tenant_id, action="billing.portal_open", actor=member, target=account)
    return session["url"]


# --- enforcement (called by the camera and site services) ----------------------------------------
def billing_require_writable(*, tenant_id: int) -> None:
    """402 once the grace period after a failed payment is over: configuration is read-only.

    Alert ingest, listing and acknowledging never call this, so alerts keep flowing."""
    if not billing_enabled():
        return
    account = _account(tenant_id)
    if is_read_only(account):
        raise PaymentRequired(
            f"configuration is read-only: a payment failed on {account.payment_failed_at:%Y-%m-%d} and the "
            f"{grace_days()}-day grace period ended on {grace_ends_at(account):%Y-%m-%d %H:%M} UTC. Alerts are "
            f"still received and can be acknowledged. An owner can update the payment method under Billing "
            f"(/billing/, 'Manage billing')")


def billing_camera_limit_check(*, tenant_id: int, adding: int = 1) -> None:
    """402 naming the limit and the upgrade path when ``adding`` more cameras exceed the plan.

    Call inside the creating transaction: the account row is locked, so two concurrent creates
    of one tenant cannot both take the last free place."""
    if not billing_enabled():
        return
    billing_require_writable(tenant_id=tenant_id)
    account = _account(tenant_id, lock=True)
    limit = camera_limit(account)
    if limit is None:
        return
    count = _camera_count(tenant_id)
    if count + adding <= limit:
        return
    plan = _plan_of(account)
    bigger = [p for p in available_plans() if p.max_cameras is None or p.max_cameras >= count + adding]
    upgrade = (f"upgrade to {bigger[0].label} ({bigger[0].limit_label})" if bigger else "contact sales for a larger plan")
    where = "the Customer Portal (Billing, 'Manage billing')" if plan else "Billing (/billing/, 'Upgrade')"
    have = f"the {plan.label} plan allows {limit} camera(s)" if plan else f"without a plan {limit} camera(s) are free"
    raise PaymentRequired(f"camera limit reached: {have} and the tenant has {count}; {upgrade} in {where} "
                          f"or POST /api/v1/billing/checkout/ to choose a plan")


def billing_cameras_changed(*, tenant_id: int) -> None:
    """A camera was added or removed: sync the subscription quantity after commit (a retried task)."""
    if not billing_enabled():
        return
    from tenants.billing.tasks import billing_quantity_sync

    def enqueue() -> None:
        try:
            billing_quantity_sync.delay(tenant_id=tenant_id)
        except Exception:  # a broker outage (or an eager run's failure) must not fail the committed change
            log.exception("billing quantity sync for tenant %s not started; the next camera change retries it",
                          tenant_id)

    transaction.on_commit(enqueue)


def billing_quantity_sync_run(*, tenant_id: int) -> str:
    """Set the subscription quantity to the tenant's camera count. Idempotent: it sets an absolute
    quantity read at run time, and skips the write when Stripe already has it."""
    if not billing_enabled():
        return "billing off"
    account = _account(tenant_id)
    if not account.stripe_subscription_id or _plan_of(account) is None:
        return "no subscription"
    count = _camera_count(tenant_id)
    quantity = max(count, 1)  # Stripe needs at least one unit on a live subscription
    try:
        subscription = stripe_api.subscription_retrieve(account.stripe_subscription_id)
    except (stripe.InvalidRequestError, stripe.PermissionError, stripe.AuthenticationError) as err:
        log.warning("billing quantity sync for tenant %s refused by Stripe: %s", tenant_id, err)
        return f"refused by Stripe: {err.user_message or err}"  # retrying would not help
    items = subscription["items"]["data"]
    if not items:
        return "subscription has no items"
    item = items[0]
    if int(item.get("quantity") or 0) != quantity:
        stripe_api.subscription_item_quantity_set(item_id=item["id"], quantity=quantity)
        outcome = f"quantity {item.get('quantity')} -> {quantity}"
    else:
        outcome = f"quantity already {quantity}"
    with transaction.atomic():
        account = _account(tenant_id, lock=True)
        before = account.quantity_synced
        account.quantity_synced, account.stripe_subscription_item_id = quantity, item["id"]
        account.save(update_fields=["quantity_synced", "stripe_subscription_item_id", "updated_at"])
        if before != quantity:
            audit_record(tenant_id=tenant_id, action="billing.quantity_sync", actor="stripe-sync", target=account,
                         before={"quantity": before}, after={"quantity": quantity}, cameras=count)
    return outcome


# --- webhook --------------------------------------------------------------------------------------
def webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify the Stripe signature (stripe-python's code), then process the event exactly once."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise Conflict("billing webhooks are not configured (STRIPE_WEBHOOK_SECRET is unset)")
    if not signature:
        raise InvalidInput.field("Stripe-Signature", "missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_S)
        event = json.loads(payload)
    except stripe.SignatureVerificationError as err:
        raise InvalidInput.field("Stripe-Signature", f"signature verification failed: {err.user_message or err}") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.field("body", "the webhook body is not a JSON Stripe event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str) \
            or not isinstance(event.get("created"), int) or not isinstance((event.get("data") or {}).get("object"), dict):
        raise InvalidInput.field("body", "a Stripe event needs id, type, created and data.object")
    return _event_process(event)


def _event_process(event: dict[str, Any]) -> str:
    obj, etype = event["data"]["object"], event["type"]
    tenant_id = _tenant_for(etype, obj) if etype in HANDLED_EVENTS else None
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = BillingEvent.objects.create(event_id=event["id"][:255], type=etype[:100],
                                                     created=event["created"], tenant_ref=tenant_id,
                                                     outcome="processing")
        except IntegrityError:
            return "duplicate: already processed"
        if etype not in HANDLED_EVENTS:
            outcome = "ignored: event type not handled"
        elif tenant_id is None:
            outcome = "ignored: no tenant for this customer/subscription"
        else:
            with tenant_scope(tenant_id):
                outcome = _apply(event, obj, tenant_id)
        record.outcome = outcome[:200]
        record.save(update_fields=["outcome"])
    return outcome


def _sub_id_of_invoice(obj: dict[str, Any]) -> str:
    sub = obj.get("subscription")  # API versions before 2025-03-31
    if not sub:
        sub = (((obj.get("parent") or {}).get("subscription_details")) or {}).get("subscription")
    return sub if isinstance(sub, str) else (sub or {}).get("id", "")


def _tenant_for(etype: str, obj: dict[str, Any]) -> int | None:
    """The tenant an event is about: the account that knows its subscription or customer, else the
    tenant id our Checkout session put in the metadata (Stripe signs it back to us)."""
    accounts = BillingAccount.unscoped_objects  # scope resolution: the webhook comes with no tenant
    if etype.startswith("customer.subscription."):
        sub_id = obj.get("id", "")
    elif etype.startswith("invoice."):
        sub_id = _sub_id_of_invoice(obj)
    else:
        sub_id = obj.get("subscription") or ""
    customer = obj.get("customer") or ""
    for field, value in (("stripe_subscription_id", sub_id), ("stripe_customer_id", customer)):
        if isinstance(value, str) and value:
            found = accounts.filter(**{field: value}).values_list("tenant_id", flat=True).first()
            if found is not None:
                return found
    claimed = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("tenant_id")
    if isinstance(claimed, str) and claimed.isdigit() and Tenant.objects.filter(id=int(claimed)).exists():
        return int(claimed)
    return None


def _apply(event: dict[str, Any], obj: dict[str, Any], tenant_id: int) -> str:
    etype, created = event["type"], event["created"]
    account = _account(tenant_id, lock=True)
    before = snapshot(account, ACCOUNT_AUDIT)
    if etype == "checkout.session.completed":
        outcome = _on_checkout_completed(account, obj, created)
    elif etype.startswith("customer.subscription."):
        outcome = _on_subscription(account, obj, created, deleted=etype.endswith(".deleted"))
    else:
        outcome = _on_invoice(account, obj, created, paid=etype == "invoice.paid")
    after = snapshot(account, ACCOUNT_AUDIT)
    account.save()  # the event-time marks move even when the visible state does not
    if after != before:
        audit_record(tenant_id=tenant_id, action=f"billing.{etype}", actor="stripe", target=account,
                     before=before, after=after, event=event["id"], outcome=outcome)
        if account.stripe_subscription_id and _plan_of(account) is not None:
            billing_cameras_changed(tenant_id=tenant_id)  # the new subscription bills today's camera count
    return outcome


def _on_checkout_completed(account: BillingAccount, obj: dict[str, Any], created: int) -> str:
    if obj.get("mode") != "subscription" or not obj.get("subscription"):
        return "ignored: not a subscription checkout"
    account.stripe_customer_id = obj.get("customer") or account.stripe_customer_id
    account.stripe_subscription_id = obj["subscription"]
    # The subscription events may come before or after this one: read the subscription now.
    try:
        subscription = stripe_api.subscription_retrieve(account.stripe_subscription_id)
    except stripe.StripeError as err:
        raise BillingUnavailable(f"Stripe could not be asked for subscription {obj['subscription']}: {err}") from None
    _on_subscription(account, subscription, created, deleted=False)
    return f"linked subscription {account.stripe_subscription_id} ({account.plan or 'unknown price'}, {account.status})"


def _on_subscription(account: BillingAccount, obj: dict[str, Any], created: int, *, deleted: bool) -> str:
    sub_id = obj.get("id", "")
    if deleted and account.stripe_subscription_id and sub_id != account.stripe_subscription_id:
        return f"ignored: subscription {sub_id} is not the tenant's current one"
    if created < account.state_event_created:
        return f"stale: older than the applied state ({created} < {account.state_event_created})"
    account.state_event_created = created
    account.stripe_subscription_id = sub_id
    if obj.get("customer"):
        account.stripe_customer_id = obj["customer"]
    if deleted:
        account.status, account.plan, account.payment_failed_at = SubscriptionStatus.CANCELED, "", None
        return f"subscription {sub_id} ended"
    status = obj.get("status", "")
    account.status = status if status in SubscriptionStatus.values else SubscriptionStatus.INCOMPLETE
    items = ((obj.get("items") or {}).get("data")) or []
    if items:
        item = items[0]
        plan = plan_for_price(((item.get("price") or {}).get("id")) or "")
        account.plan = plan.key if plan else ""
        account.stripe_subscription_item_id = item.get("id", "")
    if account.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        account.payment_failed_at = None
    elif account.status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID) and account.payment_failed_at is None:
        account.payment_failed_at = datetime.fromtimestamp(created, tz=UTC)
    return f"subscription {sub_id}: {account.plan or 'unknown price'} {account.status}"


def _on_invoice(account: BillingAccount, obj: dict[str, Any], created: int, *, paid: bool) -> str:
    if created < account.payment_event_created:
        return f"stale: older than the applied payment state ({created} < {account.payment_event_created})"
    account.payment_event_created = created
    if paid:
        account.payment_failed_at = None
        if account.status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID):
            account.status = SubscriptionStatus.ACTIVE
        return "invoice paid"
    if account.payment_failed_at is None:
        account.payment_failed_at = datetime.fromtimestamp(created, tz=UTC)
    if account.status == SubscriptionStatus.ACTIVE:
        account.status = SubscriptionStatus.PAST_DUE
    return f"payment failed; grace period until {grace_ends_at(account):%Y-%m-%d %H:%M} UTC"


__all__ = ["HANDLED_EVENTS", "PLANS", "billing_camera_limit_check", "billing_cameras_changed",
           "billing_checkout_start", "billing_portal_open", "billing_quantity_sync_run", "billing_require_writable",
           "billing_summary", "webhook_receive"]
