"""Signed checkpoints of the audit chain and the signed export (CloudTrail's digest pattern).

* :func:`checkpoint_create` - "tenant T's chain had head ``head_hash`` at ``seq``", signed with
  Ed25519 over :func:`checkpoint_payload`, which includes the previous checkpoint's signature, so
  the checkpoints form a chain of their own: dropping, reordering or forging one breaks it.
  Made by the Celery beat job (:mod:`compliance.audit_tasks`) and at every export.
* :func:`audit_export` - a streamed JSONL or CSV file: the entries of a seq range, the
  checkpoints around it, and a last record, the manifest (count, first/last seq, head hash,
  checkpoint seqs, SHA-256 of every byte before it), signed with the same key.
  ``python -m compliance.verify`` checks such a file offline.
* :func:`audit_public_keys` - key id -> base64 raw Ed25519 public key (``GET /api/v1/audit/public-keys/``).

Keys: settings ``AUDIT_SIGNING_KEYS`` ("kid1:b64,kid2:b64": the first signs, all are published,
for rotation) or ``AUDIT_SIGNING_KEY`` + ``AUDIT_KEY_ID``; base64 of a raw 32-byte Ed25519 private
key. With DEBUG and no key, settings derive a dev-only key from SECRET_KEY.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction
from django.utils import timezone

from compliance.audit import _lock_head, audit_record, canonical_json, entry_body, format_ts
from compliance.models import AuditChainHead, AuditCheckpoint, AuditEntry
from tenants.errors import InvalidInput
from tenants.roles import Action, require
from tenants.scope import tenant_scope
from vadcloud.keyring import key_ring, public_b64

CHECKPOINT_FORMAT = 1
MANIFEST_FORMAT = 1
EXPORT_FORMATS = ("jsonl", "csv")
EXPORT_BATCH = 500
CSV_COLUMNS = ("record", "tenant", "seq", "ts", "actor_id", "actor", "action", "target_type", "target_id",
               "before", "after", "extra", "ip", "prev_hash", "hash", "data")


# --- keys ------------------------------------------------------------------------------------
def signing_keys() -> list[tuple[str, Ed25519PrivateKey]]:
    """The key ring, signing key first. Raises ImproperlyConfigured naming the bad entry."""
    return key_ring(ring="AUDIT_SIGNING_KEYS", single="AUDIT_SIGNING_KEY", key_id="AUDIT_KEY_ID",
                    default_key_id="a1", what="audit signing")


def audit_public_keys() -> dict[str, str]:
    """Key id -> base64 raw Ed25519 public key, every key of the ring."""
    return {key_id: public_b64(key) for key_id, key in signing_keys()}


def _sign(payload: dict[str, Any]) -> tuple[str, str]:
    key_id, key = signing_keys()[0]
    body = dict(payload, key_id=key_id)
    return key_id, base64.b64encode(key.sign(canonical_json(body).encode("utf-8"))).decode()


# --- checkpoints -----------------------------------------------------------------------------
def checkpoint_payload(checkpoint: Any) -> dict[str, Any]:
    """What a checkpoint's signature covers (``key_id`` included)."""
    return {"v": CHECKPOINT_FORMAT, "tenant": checkpoint.tenant_id, "seq": checkpoint.seq,
            "head_hash": checkpoint.head_hash, "prev_signature": checkpoint.prev_signature,
            "ts": format_ts(checkpoint.ts), "key_id": checkpoint.key_id}


def checkpoint_create(*, tenant_id: int) -> AuditCheckpoint | None:
    """Sign the tenant's current head; the last checkpoint if the head has not moved; None if empty."""
    with tenant_scope(tenant_id), transaction.atomic():
        head = _lock_head(AuditChainHead, tenant_id)  # writers wait: the head cannot move meanwhile
        if head.seq == 0:
            return None
        last = AuditCheckpoint.objects.order_by("-seq").first()
        if last is not None and last.seq == head.seq:
            return last
        key_id, _ = signing_keys()[0]
        checkpoint = AuditCheckpoint(tenant_id=tenant_id, seq=head.seq, head_hash=head.head_hash,
                                     prev_signature=last.signature if last else "", ts=timezone.now(), key_id=key_id)
        _, checkpoint.signature = _sign(checkpoint_payload(checkpoint))
        checkpoint.save(force_insert=True)
        return checkpoint


def platform_checkpoint_all() -> int:
    """Platform job (beat): a checkpoint for every tenant whose chain moved. Returns how many were made."""
    made = 0
    for tenant_id in AuditChainHead.unscoped_objects.filter(seq__gt=0).values_list("tenant_id", flat=True):
        with tenant_scope(tenant_id):
            before = AuditCheckpoint.objects.order_by("-seq").values_list("seq", flat=True).first()
        checkpoint = checkpoint_create(tenant_id=tenant_id)
        made += checkpoint is not None and checkpoint.seq != before
    return made


# --- reads -----------------------------------------------------------------------------------
def audit_entries(*, member: Any, action: str = "", actor: str = "", ts_from: datetime | None = None,
                  ts_to: datetime | None = None, before_seq: int | None = None) -> Any:
    """The tenant's entries, newest first, filtered; owner/admin/compliance officer only.
    ``before_seq``: only entries older than that one (the portal's "older entries" cursor)."""
    require(member, Action.VIEW_AUDIT)
    qs = AuditEntry.objects.all()
    if before_seq is not None:
        qs = qs.filter(seq__lt=before_seq)
    if action:
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    if actor:
        qs = qs.filter(actor=actor)
    if ts_from is not None:
        qs = qs.filter(ts__gte=ts_from)
    if ts_to is not None:
        qs = qs.filter(ts__lt=ts_to)
    return qs.order_by("-seq")


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """The exported form of an entry: its hashed body plus ``hash``."""
    return {"record": "entry", **entry_body(entry), "hash": entry.hash}


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"record": "checkpoint", **checkpoint_payload(checkpoint), "signature": checkpoint.signature}


# --- export ----------------------------------------------------------------------------------
def audit_export(*, member: Any, fmt: str = "jsonl", ts_from: datetime | None = None,
                 ts_to: datetime | None = None) -> Iterator[bytes]:
    """Check the role, record the export, checkpoint the head; return the streamed file's chunks."""
    require(member, Action.VIEW_AUDIT)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput.field("format", f"unknown format {fmt!r}; use one of {list(EXPORT_FORMATS)}")
    if ts_from is not None and ts_to is not None and ts_from >= ts_to:
        raise InvalidInput.field("to", "'to' must be later than 'from'")
    tenant_id = member.tenant_id
    with transaction.atomic():
        audit_record(tenant_id=tenant_id, action="audit.export", actor=member, format=fmt,
                     **{"from": ts_from.isoformat() if ts_from else None, "to": ts_to.isoformat() if ts_to else None})
    checkpoint = checkpoint_create(tenant_id=tenant_id)
    assert checkpoint is not None  # the export entry itself is in the chain
    with tenant_scope(tenant_id):
        in_range = AuditEntry.objects.filter(seq__lte=checkpoint.seq)
        if ts_from is not None:
            in_range = in_range.filter(ts__gte=ts_from)
        if ts_to is not None:
            in_range = in_range.filter(ts__lt=ts_to)
        first = in_range.order_by("seq").values_list("seq", flat=True).first()
        last = in_range.order_by("-seq").values_list("seq", flat=True).first()
    window = {"from": ts_from.isoformat() if ts_from else None, "to": ts_to.isoformat() if ts_to else None}
    return _stream(tenant_id=tenant_id, fmt=fmt, first=first, last=last, head=checkpoint, window=window)


def _checkpoints_around(first: int | None, last: int | None, head: AuditCheckpoint) -> list[AuditCheckpoint]:
    """Consecutive checkpoints from the last one before ``first`` to ``head`` (all in scope)."""
    qs = AuditCheckpoint.objects.filter(seq__lte=head.seq).order_by("seq")
    if first is not None:
        start = AuditCheckpoint.objects.filter(seq__lt=first).order_by("-seq").values_list("seq", flat=True).first()
        if start is not None:
            qs = qs.filter(seq__gte=start)
    return list(qs)


def _stream(*, tenant_id: int, fmt: str, first: int | None, last: int | None, head: AuditCheckpoint,
            window: dict[str, Any]) -> Iterator[bytes]:
    digest = hashlib.sha256()
    encode = _jsonl_line if fmt == "jsonl" else _csv_line

    def out(record: dict[str, Any]) -> bytes:
        chunk = encode(record)
        digest.update(chunk)
        return chunk

    if fmt == "csv":
        yield out({})  # header
    count = 0
    head_hash = None
    first_prev_hash = None
    cursor = (first or 0) - 1
    while first is not None and cursor < last:
        # the scope is entered per batch, never held across a yield: a streamed response may resume
        # the generator in another context (ASGI), where resetting a ContextVar token fails
        with tenant_scope(tenant_id):
            batch = list(AuditEntry.objects.filter(seq__gt=cursor, seq__lte=last).order_by("seq")[:EXPORT_BATCH])
        if not batch:
            break
        for entry in batch:
            if first_prev_hash is None:
                first_prev_hash = entry.prev_hash
            count += 1
            head_hash = entry.hash
            yield out(entry_record(entry))
        cursor = batch[-1].seq
    with tenant_scope(tenant_id):
        checkpoints = _checkpoints_around(first, last, head)
    for checkpoint in checkpoints:
        yield out(checkpoint_record(checkpoint))
    manifest: dict[str, Any] = {
        "v": MANIFEST_FORMAT, "tenant": tenant_id, "format": fmt, "entries": count, "first_seq": first,
        "last_seq": last, "first_prev_hash": first_prev_hash, "head_hash": head_hash,
        "chain_seq": head.seq, "chain_head_hash": head.head_hash,
        "checkpoints": [c.seq for c in checkpoints], "generated_at": format_ts(timezone.now()),
        **window, "file_sha256": digest.hexdigest(),
    }
    key_id, signature = _sign(manifest)
    yield encode({"record": "manifest", **manifest, "key_id": key_id, "signature": signature})


def _jsonl_line(record: dict[str, Any]) -> bytes:
    return (canonical_json(record) + "\n").encode("utf-8")


def _csv_line(record: dict[str, Any]) -> bytes:
    """One CSV row; entries fill the columns, checkpoints and the manifest put their JSON in ``data``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not record:
        writer.writerow(CSV_COLUMNS)
    elif record["record"] == "entry":
        row = []
        for column in CSV_COLUMNS:
            value = record.get(column)
            if column in {"before", "after", "extra"}:
                row.append(canonical_json(value))
            elif column == "data":
                row.append("")
            else:
                row.append("" if value is None else str(value))
        row[CSV_COLUMNS.index("data")] = json.dumps({"v": record["v"]})
        writer.writerow(row)
    else:
        writer.writerow([record["record"]] + [""] * (len(CSV_COLUMNS) - 2) + [canonical_json(record)])
    return buffer.getvalue().encode("utf-8")
