"""The tamper-evident audit log: ``audit_record(...)`` appends one entry to the tenant's hash chain.

Call it inside the transaction of the change it records (services do: ``with transaction.atomic():
... audit_record(tenant_id=..., action="camera.update", actor=member, target=camera, before=...,
after=...)``). A change that rolls back takes its entry with it; an entry that cannot be written
rolls the change back (``atomic(savepoint=False)``: the caller's transaction is marked for rollback).

Chain: entry ``n`` of a tenant stores ``prev_hash`` = hash of entry ``n-1`` (``GENESIS_HASH`` for
the first) and ``hash`` = SHA-256 of :func:`canonical_json` of :func:`entry_body` (every field and
``prev_hash``). Writers lock the tenant's ``AuditChainHead`` row (``select_for_update``), so two
concurrent writers on PostgreSQL queue up instead of forking the chain; the unique (tenant, seq)
constraint is the backstop. On SQLite, transactions are IMMEDIATE (settings), which serializes
writers the same way. Signed checkpoints and exports live in ``compliance.audit_signing``.

Why the ground floor may call this (DESIGN.md floors): ``tenants`` imports no other app, yet its
services (memberships, invitations, tokens) must audit. This module is a leaf: it imports only
``tenants.scope``, Django, and ``compliance.models`` (which itself imports only ``tenants.scope``),
never ``cameras``/``detection``/``tenants.services``. Like ``compliance.jurisdictions``, which
``tenants.models`` already reads, it is infrastructure under every floor, so ``tenants``,
``cameras`` and ``detection`` services may all import it without an import cycle.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from tenants.scope import TenantScopeError, current_tenant_id, tenant_scope

#: ``prev_hash`` of a tenant's first entry.
GENESIS_HASH = "0" * 64
#: Version of the hashed body layout (stored in no column: it is part of what is hashed).
ENTRY_FORMAT = 1

_request_ip: ContextVar[str | None] = ContextVar("vadcloud_audit_ip", default=None)


@contextmanager
def audit_ip(ip: str | None) -> Iterator[None]:
    """Entries recorded in the block get ``ip`` unless the caller passes one (set per request)."""
    token = _request_ip.set(_clean_ip(ip))
    try:
        yield
    finally:
        _request_ip.reset(token)


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(str(ip).strip()))
    except ValueError:
        return None


# --- canonical encoding ------------------------------------------------------------------------
def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept (hashed as UTF-8), NaN/Infinity refused."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """A JSON value that reads back identically from SQLite and PostgreSQL jsonb.

    Integral floats become ints (jsonb prints 1e20 as an integer), NUL characters (refused by
    jsonb) become U+FFFD, keys become strings, anything else (dates, Decimals, UUIDs) its ``str``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {str(k).replace("\x00", "\ufffd"): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def entry_body(entry: Any) -> dict[str, Any]:
    """The hashed fields of an entry (a model instance or anything with the same attributes)."""
    return {
        "v": ENTRY_FORMAT,
        "tenant": entry.tenant_id,
        "seq": entry.seq,
        "ts": format_ts(entry.ts),
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "extra": entry.extra,
        "ip": entry.ip,
        "prev_hash": entry.prev_hash,
    }


def entry_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# --- actor / target ----------------------------------------------------------------------------
def _actor(actor: Any) -> tuple[int | None, str]:
    """A User, a Membership (its user), a string such as ``"device:12"``, or None (the system)."""
    if actor is None:
        return None, ""
    if isinstance(actor, str):
        return None, actor[:200]
    user = getattr(actor, "user", None) if not hasattr(actor, "get_username") else actor
    if user is None or not hasattr(user, "get_username"):
        raise TypeError(f"audit actor must be a User, a Membership, a str or None, got {type(actor).__name__}")
    if not getattr(user, "is_authenticated", False):
        return None, ""
    return user.pk, user.get_username()[:200]


def _target(target: Any) -> tuple[str, str]:
    """A model instance (``app_label.model`` + pk), a ``(type, id)`` pair, a string, or None."""
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower[:100], str(target.pk)[:100]
    if isinstance(target, tuple) and len(target) == 2:
        return str(target[0])[:100], str(target[1])[:100]
    if isinstance(target, str):
        return target[:100], ""
    raise TypeError(f"audit target must be a model instance, a (type, id) pair or a str, got {type(target).__name__}")


# --- write -------------------------------------------------------------------------------------
def audit_record(*, tenant_id: int, action: str, actor: Any = None, target: Any = None,
                 before: Any = None, after: Any = None, ip: str | None = None, _any_scope: bool = False,
                 **extra: Any) -> Any:
    """Append one entry to ``tenant_id``'s chain, in the caller's transaction; returns the entry.

    ``action`` is a dotted name (``camera.update``, ``auth.login_failed``); ``before``/``after``
    are JSON-able snapshots (only the fields that matter); ``extra`` keyword arguments land in the
    entry's ``extra`` JSON (reason, counts, ...). ``ip`` defaults to the request's (``audit_ip``).
    """
    from compliance.models import AuditChainHead, AuditEntry

    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise TypeError(f"audit_record() needs an int tenant_id, got {tenant_id!r}")
    if not action or not isinstance(action, str) or len(action) > 100:
        raise ValueError(f"audit action must be a non-empty str of at most 100 characters, got {action!r}")
    active = current_tenant_id()
    if active is not None and active != tenant_id and not _any_scope:
        raise TenantScopeError(f"refusing to audit into tenant {tenant_id}'s log inside the scope of tenant {active}")
    actor_id, actor_name = _actor(actor)
    target_type, target_id = _target(target)
    with tenant_scope(tenant_id), transaction.atomic(savepoint=False):
        head = _lock_head(AuditChainHead, tenant_id)
        entry = AuditEntry(
            tenant_id=tenant_id, seq=head.seq + 1, ts=timezone.now(), actor_id=actor_id, actor=actor_name,
            action=action, target_type=target_type, target_id=target_id,
            before=_jsonable(before), after=_jsonable(after), extra=_jsonable(extra),
            ip=_clean_ip(ip) or _request_ip.get(), prev_hash=head.head_hash,
        )
        entry.hash = entry_hash(entry_body(entry))
        entry.save(force_insert=True)
        AuditChainHead.objects.filter(pk=head.pk).update(seq=entry.seq, head_hash=entry.hash)
    return entry


def audit_record_for_user(*, user: Any, action: str, **fields: Any) -> list[Any]:
    """Record an action of a user that belongs to no one tenant (sign-in, personal API tokens)
    in the log of every tenant the user is a member of; returns the entries."""
    from tenants.models import Membership

    # scope resolution: which tenants the user belongs to is asked before any scope (tenants.scope)
    tenant_ids = sorted(set(Membership.unscoped_objects.filter(user_id=user.pk).values_list("tenant_id", flat=True)))
    return [audit_record(tenant_id=tenant_id, action=action, _any_scope=True, **fields) for tenant_id in tenant_ids]


def _lock_head(model: Any, tenant_id: int) -> Any:
    """The tenant's chain head, locked; created (race-safely) on the tenant's first entry."""
    head = model.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():  # savepoint: a concurrent first writer may win the insert
            model.objects.create(tenant_id=tenant_id, seq=0, head_hash=GENESIS_HASH)
    except IntegrityError:
        pass
    return model.objects.select_for_update().get(tenant_id=tenant_id)


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``{field: value}`` of an instance, for ``before=``/``after=`` (FKs by their ``_id``)."""
    out: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        out[name] = _jsonable(getattr(instance, attname, None))
    return out
