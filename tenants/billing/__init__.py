"""Billing with Stripe: per-camera plans, Checkout, the Customer Portal, verified webhooks, plan limits.

Off unless ``STRIPE_SECRET_KEY`` is set: no Stripe calls, no limits, the portal says so.
Modules: ``plans`` (plans and settings), ``models`` (BillingAccount, BillingEvent; imported by
``tenants.models``), ``stripe_api`` (the only module that talks to Stripe), ``services``
(checkout, portal, webhook processing, enforcement), ``tasks`` (quantity sync), ``views``/``urls``.
"""
