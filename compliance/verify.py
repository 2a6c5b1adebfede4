"""Offline verifier of an audit log export: ``python -m compliance.verify EXPORT --public-key KEY``.

Needs only the standard library and ``cryptography``: no Django, no database, so an auditor can
run it on a copy of the export anywhere. It checks, in this order, and reports the first failure:

1. every entry's SHA-256 over its canonical JSON (sorted keys, no whitespace, UTF-8) - an edit;
2. the chain: seqs consecutive, each ``prev_hash`` the previous entry's hash, the first entry's
   ``prev_hash`` the genesis hash (seq 1) or the manifest's ``first_prev_hash`` - a deletion,
   insertion or reordering;
3. each checkpoint's Ed25519 signature, its ``prev_signature`` link to the checkpoint before it,
   and its ``head_hash`` against the entry of its seq - a forged checkpoint or a rewritten chain;
4. the manifest's signature, counts, first/last seq, head hash and the SHA-256 of the file up to
   it - a truncated tail, a dropped checkpoint or any other change.

KEY is a file or a literal: the JSON of ``GET /api/v1/audit/public-keys/`` (``{"keys": {kid: b64}}``),
a ``{kid: b64}`` object, a PEM public key, or base64 of the raw 32-byte Ed25519 public key.
Exit codes: 0 OK, 1 broken (first broken entry named), 2 bad input (unreadable file or key).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

GENESIS_HASH = "0" * 64
ENTRY_FIELDS = ("v", "tenant", "seq", "ts", "actor_id", "actor", "action", "target_type", "target_id",
                "before", "after", "extra", "ip", "prev_hash")
CSV_COLUMNS = ("record", "tenant", "seq", "ts", "actor_id", "actor", "action", "target_type", "target_id",
               "before", "after", "extra", "ip", "prev_hash", "hash", "data")


class BadInput(Exception):
    """The file or key cannot be read as what it should be (exit 2)."""


class Broken(Exception):
    """The export does not verify (exit 1)."""


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- keys ------------------------------------------------------------------------------------
def _raw_key(b64: str, label: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(str(b64).strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise BadInput(f"public key {label} is not base64 of a raw 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_keys(spec: str) -> dict[str | None, Ed25519PublicKey]:
    """Key id -> key; the id None matches any key id (a single key given without one)."""
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else spec
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read public key file {spec!r}: {err}") from None
    text = text.strip()
    if not text:
        raise BadInput("the public key is empty")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadInput(f"public key JSON is not valid: {err}") from None
        ring = data.get("keys", data) if isinstance(data, dict) else None
        if not isinstance(ring, dict) or not ring:
            raise BadInput('public key JSON must be {"keys": {"key id": "base64"}} or {"key id": "base64"}')
        return {str(kid): _raw_key(b64, repr(kid)) for kid, b64 in ring.items()}
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode())
        except ValueError as err:
            raise BadInput(f"PEM public key cannot be read: {err}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadInput(f"PEM public key is a {type(key).__name__}, not an Ed25519 key")
        return {None: key}
    return {None: _raw_key(text, "(given)")}


def _verify_signature(keys: dict[str | None, Ed25519PublicKey], payload: dict[str, Any], signature: Any,
                      what: str) -> None:
    key_id = payload.get("key_id")
    key = keys.get(key_id) or keys.get(None)
    if key is None:
        raise Broken(f"{what} is signed by key {key_id!r}, which is not among the given public keys {sorted(map(str, keys))}")
    try:
        key.verify(base64.b64decode(str(signature), validate=True), canonical_json(payload).encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Broken(f"{what}: signature does not verify (forged or altered)") from None


# --- reading ---------------------------------------------------------------------------------
def _split(data: bytes) -> tuple[bytes, bytes]:
    """(everything before the last line, the last line): the manifest is always the last line."""
    if not data.endswith(b"\n"):
        raise Broken("the file does not end with a complete line: truncated (no manifest)")
    cut = data.rfind(b"\n", 0, len(data) - 1)
    return data[: cut + 1], data[cut + 1:]


def _parse_jsonl(body: str, last: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records = []
    for number, line in enumerate(body.splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise Broken(f"line {number} is not valid JSON") from None
        if not isinstance(record, dict):
            raise Broken(f"line {number} is not a JSON object")
        records.append(record)
    try:
        manifest = json.loads(last)
    except json.JSONDecodeError:
        manifest = None
    return records, manifest


def _int_or_none(value: str) -> int | None:
    return int(value) if value != "" else None


def _entry_from_csv(row: dict[str, str], number: int) -> dict[str, Any]:
    try:
        record: dict[str, Any] = {
            "record": "entry", "v": json.loads(row["data"])["v"], "tenant": int(row["tenant"]),
            "seq": int(row["seq"]), "ts": row["ts"], "actor_id": _int_or_none(row["actor_id"]),
            "actor": row["actor"], "action": row["action"], "target_type": row["target_type"],
            "target_id": row["target_id"], "before": json.loads(row["before"]), "after": json.loads(row["after"]),
            "extra": json.loads(row["extra"]), "ip": row["ip"] or None, "prev_hash": row["prev_hash"],
            "hash": row["hash"],
        }
    except (KeyError, ValueError, TypeError):
        raise Broken(f"CSV row {number} is not a well-formed entry") from None
    return record


def _parse_csv(body: str, last: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    reader = csv.DictReader(io.StringIO(body, newline=""))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise BadInput(f"CSV header is not the audit export's: {reader.fieldnames}")
    records = []
    for number, row in enumerate(reader, start=2):
        if row.get("record") == "entry":
            records.append(_entry_from_csv(row, number))
        else:
            try:
                records.append(json.loads(row.get("data") or ""))
            except json.JSONDecodeError:
                raise Broken(f"CSV row {number} has no valid JSON in its data column") from None
    try:
        row = next(csv.reader(io.StringIO(last, newline="")))
        manifest = json.loads(row[-1]) if row and row[0] == "manifest" else None
    except (StopIteration, json.JSONDecodeError):
        manifest = None
    return records, manifest


def read_export(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], str, bytes]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    if not data.strip():
        raise BadInput(f"{str(path)!r} is empty")
    fmt = "csv" if data.startswith(b"record,tenant,") else "jsonl"
    body, last = _split(data)
    try:
        body_text, last_text = body.decode("utf-8"), last.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{str(path)!r} is not UTF-8 text") from None
    if fmt == "jsonl" and not body_text and not last_text.lstrip().startswith("{"):
        raise BadInput(f"{str(path)!r} is not an audit export (neither JSONL nor the CSV header)")
    records, manifest = (_parse_jsonl if fmt == "jsonl" else _parse_csv)(body_text, last_text)
    if not isinstance(manifest, dict) or manifest.get("record") != "manifest":
        raise Broken("the last line is not the manifest: the export is truncated or was appended to")
    return records, manifest, fmt, body


# --- checks ----------------------------------------------------------------------------------
def _check_entries(entries: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
    previous: dict[str, Any] | None = None
    for entry in entries:
        seq = entry.get("seq")
        if not isinstance(seq, int):
            raise Broken(f"an entry after seq {previous['seq'] if previous else 'start'} has no integer seq")
        if unexpected := sorted(set(entry) - set(ENTRY_FIELDS) - {"record", "hash"}):
            raise Broken(f"entry seq {seq}: unexpected fields {unexpected} (edited)")
        body = {name: entry.get(name) for name in ENTRY_FIELDS}
        if sha256_hex(canonical_json(body)) != entry.get("hash"):
            raise Broken(f"entry seq {seq}: its hash does not match its content (edited)")
        if entry.get("tenant") != manifest.get("tenant"):
            raise Broken(f"entry seq {seq}: tenant {entry.get('tenant')!r} is not the export's {manifest.get('tenant')!r}")
        if previous is None:
            expected_prev = GENESIS_HASH if seq == 1 else manifest.get("first_prev_hash")
            if entry.get("prev_hash") != expected_prev:
                raise Broken(f"entry seq {seq}: prev_hash does not match the start of the exported chain")
        else:
            if seq <= previous["seq"]:
                raise Broken(f"entry seq {seq} follows seq {previous['seq']}: out of order or duplicated "
                             f"(inserted or reordered)")
            if seq != previous["seq"] + 1:
                missing = f"{previous['seq'] + 1}" + (f"-{seq - 1}" if seq - 1 > previous["seq"] + 1 else "")
                raise Broken(f"entry seq {seq} follows seq {previous['seq']}: seq {missing} missing "
                             f"(deleted or out of order)")
            if entry.get("prev_hash") != previous["hash"]:
                raise Broken(f"entry seq {seq}: prev_hash is not the hash of entry seq {previous['seq']} "
                             f"(an entry was inserted, replaced or rewritten)")
        previous = entry


def _check_checkpoints(checkpoints: list[dict[str, Any]], entries: list[dict[str, Any]],
                       keys: dict[str | None, Ed25519PublicKey]) -> None:
    by_seq = {e["seq"]: e for e in entries}
    previous: dict[str, Any] | None = None
    for checkpoint in checkpoints:
        payload = {k: v for k, v in checkpoint.items() if k not in {"record", "signature"}}
        what = f"checkpoint at seq {checkpoint.get('seq')}"
        _verify_signature(keys, payload, checkpoint.get("signature"), what)
        if previous is not None:
            if checkpoint.get("prev_signature") != previous.get("signature"):
                raise Broken(f"{what}: prev_signature is not the signature of the checkpoint at seq "
                             f"{previous.get('seq')} (a checkpoint was dropped, inserted or reordered)")
        entry = by_seq.get(checkpoint.get("seq"))
        if entry is not None and entry["hash"] != checkpoint.get("head_hash"):
            raise Broken(f"entry seq {entry['seq']}: hash differs from the signed {what} (chain rewritten)")
        previous = checkpoint


def _check_manifest(manifest: dict[str, Any], entries: list[dict[str, Any]], checkpoints: list[dict[str, Any]],
                    body: bytes, keys: dict[str | None, Ed25519PublicKey]) -> None:
    payload = {k: v for k, v in manifest.items() if k not in {"record", "signature"}}
    _verify_signature(keys, payload, manifest.get("signature"), "the manifest")
    first = entries[0]["seq"] if entries else None
    last = entries[-1]["seq"] if entries else None
    if len(entries) != manifest.get("entries") or last != manifest.get("last_seq"):
        raise Broken(f"the manifest lists {manifest.get('entries')} entries up to seq {manifest.get('last_seq')}, "
                     f"the file has {len(entries)} up to seq {last} (truncated tail or removed entries)")
    if first != manifest.get("first_seq"):
        raise Broken(f"the manifest's first seq is {manifest.get('first_seq')}, the file's is {first} (head removed)")
    if entries and entries[-1]["hash"] != manifest.get("head_hash"):
        raise Broken(f"entry seq {last}: hash differs from the manifest's head hash")
    if [c.get("seq") for c in checkpoints] != manifest.get("checkpoints"):
        raise Broken(f"the checkpoints in the file {[c.get('seq') for c in checkpoints]} are not the manifest's "
                     f"{manifest.get('checkpoints')} (a checkpoint was removed or added)")
    if not checkpoints or (checkpoints[-1].get("seq"), checkpoints[-1].get("head_hash")) != (
            manifest.get("chain_seq"), manifest.get("chain_head_hash")):
        raise Broken("the last checkpoint is not the chain head the manifest names")
    if hashlib.sha256(body).hexdigest() != manifest.get("file_sha256"):
        raise Broken("the file's SHA-256 before the manifest differs from the manifest's (the file was altered)")


def verify(path: Path, keys: dict[str | None, Ed25519PublicKey]) -> str:
    """The OK line, or raises Broken / BadInput."""
    records, manifest, fmt, body = read_export(path)
    entries, checkpoints = [], []
    for position, record in enumerate(records, start=1):
        kind = record.get("record")
        if kind == "entry":
            entries.append(record)
        elif kind == "checkpoint":
            checkpoints.append(record)
        else:
            raise Broken(f"record {position} has unknown type {kind!r}")
    _check_entries(entries, manifest)
    _check_checkpoints(checkpoints, entries, keys)
    _check_manifest(manifest, entries, checkpoints, body, keys)
    span = f"seq {entries[0]['seq']}-{entries[-1]['seq']}" if entries else "no entries"
    return (f"OK: {len(entries)} entries ({span}), {len(checkpoints)} signed checkpoints, manifest signed by "
            f"key {manifest.get('key_id')!r}; {fmt}, tenant {manifest.get('tenant')}, chain head seq "
            f"{manifest.get('chain_seq')} {manifest.get('chain_head_hash')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compliance.verify",
                                     description="Verify an audit log export offline (hash chain, checkpoints, manifest).")
    parser.add_argument("export", help="the exported .jsonl or .csv file")
    parser.add_argument("--public-key", required=True,
                        help="file or literal: JSON of /api/v1/audit/public-keys/, a PEM key, or base64 raw Ed25519")
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.public_key)
        print(verify(Path(args.export), keys))
    except BadInput as err:
        print(f"bad input: {err}", file=sys.stderr)
        return 2
    except Broken as err:
        print(f"BROKEN: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
