"""Plans priced per camera per month, each bound to a Stripe price id from the environment.

Read at call time (``django.conf.settings``), so tests and deployments change them with settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Plan:
    key: str
    label: str
    max_cameras: int | None  # None: no limit
    price_setting: str  # the settings name holding the Stripe price id

    @property
    def price_id(self) -> str:
        return getattr(settings, self.price_setting, "") or ""

    @property
    def limit_label(self) -> str:
        return "unlimited cameras" if self.max_cameras is None else f"up to {self.max_cameras} cameras"


PLANS: tuple[Plan, ...] = (
    Plan("starter", "Starter", 4, "STRIPE_PRICE_STARTER"),
    Plan("pro", "Pro", 25, "STRIPE_PRICE_PRO"),
    Plan("enterprise", "Enterprise", None, "STRIPE_PRICE_ENTERPRISE"),
)
PLANS_BY_KEY = {plan.key: plan for plan in PLANS}


def billing_enabled() -> bool:
    """Billing is on only with a Stripe secret key; without one nothing bills and nothing is limited."""
    return bool(getattr(settings, "STRIPE_SECRET_KEY", ""))


def available_plans() -> list[Plan]:
    """The plans an owner can buy: those with a configured price id."""
    return [plan for plan in PLANS if plan.price_id]


def plan_for_price(price_id: str) -> Plan | None:
    return next((plan for plan in PLANS if plan.price_id and plan.price_id == price_id), None)


def free_cameras() -> int:
    """Cameras a tenant may have without a plan while billing is on."""
    return int(getattr(settings, "BILLING_FREE_CAMERAS", 0))


def grace_days() -> int:
    return int(getattr(settings, "BILLING_GRACE_DAYS", 7))
