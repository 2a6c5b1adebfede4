"""The offline verifier (``python -m compliance.verify``, run as a subprocess) on real API exports:
OK for an untouched export; the first broken entry for an edited, deleted, inserted or reordered
entry, a truncated tail and a forged checkpoint; exit 2 for unreadable input."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from compliance.audit import canonical_json
from tests.compliance.audit_helpers import export, fill_chain, public_key_file, run_verify


@pytest.fixture
def exported(acme, api, tmp_path):  # noqa: ANN001, ANN201
    fill_chain(acme, count=6, checkpoint_every=3)
    data = export(acme)
    return data.decode().splitlines(), public_key_file(tmp_path, api), tmp_path


def write(tmp_path, lines, name="tampered.jsonl"):  # noqa: ANN001, ANN201
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def records(lines):  # noqa: ANN001, ANN201
    return [json.loads(line) for line in lines]


def entry_index(lines, seq):  # noqa: ANN001, ANN201
    return next(i for i, r in enumerate(records(lines)) if r["record"] == "entry" and r["seq"] == seq)


def rehash(record):  # noqa: ANN001, ANN201
    body = {k: v for k, v in record.items() if k not in {"record", "hash"}}
    return dict(record, hash=hashlib.sha256(canonical_json(body).encode()).hexdigest())


def test_untouched_export_verifies_ok(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    kinds = [r["record"] for r in records(lines)]
    assert kinds.count("entry") == 7 and kinds.count("checkpoint") == 3 and kinds[-1] == "manifest"  # + audit.export
    result = run_verify(write(tmp_path, lines, "ok.jsonl"), key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: 7 entries (seq 1-7), 3 signed checkpoints")


def test_edited_entry_is_named(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 3)
    record = json.loads(lines[i])
    record["after"] = {"n": 300}
    lines[i] = canonical_json(record)
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 3: its hash does not match its content (edited)" in result.stdout


def test_field_added_to_an_entry_is_named(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 2)
    lines[i] = canonical_json(dict(json.loads(lines[i]), approved_by="dpo"))
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 2: unexpected fields ['approved_by'] (edited)" in result.stdout


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 2)
    lines[i] = canonical_json(rehash(dict(json.loads(lines[i]), actor="mallory")))
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 3: prev_hash is not the hash of entry seq 2" in result.stdout


def test_deleted_entry_is_named(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    del lines[entry_index(lines, 4)]
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 5 follows seq 3: seq 4 missing" in result.stdout


def test_inserted_entry_is_named(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 4)
    forged = rehash(dict(json.loads(lines[i]), action="site.delete"))  # a plausible copy, rehashed
    lines.insert(i + 1, canonical_json(forged))
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 4 follows seq 4: out of order or duplicated" in result.stdout


def test_inserted_entry_with_renumbered_tail_breaks_the_chain(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 2)
    previous = json.loads(lines[i])
    forged = rehash(dict(previous, seq=3, prev_hash=previous["hash"], action="member.role_change"))
    tail = []
    for line in lines[i + 1:]:
        record = json.loads(line)
        tail.append(canonical_json(dict(record, seq=record["seq"] + 1)) if record["record"] == "entry" else line)
    lines = lines[: i + 1] + [canonical_json(forged)] + tail
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 4: its hash does not match its content" in result.stdout


def test_reordered_entries_are_named(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = entry_index(lines, 5)
    j = entry_index(lines, 6)
    lines[i], lines[j] = lines[j], lines[i]
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "entry seq 6 follows seq 4: seq 5 missing (deleted or out of order)" in result.stdout


def test_truncated_tail_is_caught_by_the_manifest(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    last_two = {entry_index(lines, 6), entry_index(lines, 7)}
    lines = [line for n, line in enumerate(lines) if n not in last_two]
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "the manifest lists 7 entries up to seq 7, the file has 5 up to seq 5 (truncated tail" in result.stdout


def test_file_cut_before_the_manifest_is_broken(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    result = run_verify(write(tmp_path, lines[:4]), key)
    assert result.returncode == 1
    assert "the last line is not the manifest" in result.stdout
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines)[:-40], encoding="utf-8")  # mid-line, inside the manifest
    result = run_verify(cut, key)
    assert result.returncode == 1 and "truncated" in result.stdout


def test_truncated_tail_with_a_rewritten_manifest_fails_its_signature(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    del lines[entry_index(lines, 7)]
    manifest = json.loads(lines[-1])
    lines[-1] = canonical_json(dict(manifest, entries=6, last_seq=6))
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "the manifest: signature does not verify" in result.stdout


def test_forged_checkpoint_is_caught(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    i = next(n for n, r in enumerate(records(lines)) if r["record"] == "checkpoint")
    checkpoint = json.loads(lines[i])
    payload = {k: v for k, v in checkpoint.items() if k not in {"record", "signature"}}
    payload["head_hash"] = "f" * 64
    forger = Ed25519PrivateKey.generate()  # the same key id, not the key
    signature = base64.b64encode(forger.sign(canonical_json(payload).encode())).decode()
    lines[i] = canonical_json({"record": "checkpoint", **payload, "signature": signature})
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert f"checkpoint at seq {checkpoint['seq']}: signature does not verify (forged or altered)" in result.stdout


def test_dropped_checkpoint_breaks_the_checkpoint_chain(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    checkpoints = [n for n, r in enumerate(records(lines)) if r["record"] == "checkpoint"]
    del lines[checkpoints[1]]
    result = run_verify(write(tmp_path, lines), key)
    assert result.returncode == 1
    assert "prev_signature is not the signature of the checkpoint at seq 3" in result.stdout


def test_rewritten_chain_is_caught_by_a_signed_checkpoint(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    out, previous_hash = [], None
    for line in lines:  # rewrite entry 2 and re-link everything after it: only signatures can tell
        record = json.loads(line)
        if record["record"] == "entry" and record["seq"] >= 2:
            if record["seq"] == 2:
                record["actor"] = "nobody"
            record = rehash(dict(record, prev_hash=previous_hash))
        if record["record"] == "entry":
            previous_hash = record["hash"]
        out.append(canonical_json(record) if record["record"] == "entry" else line)
    result = run_verify(write(tmp_path, out), key)
    assert result.returncode == 1
    assert "entry seq 3: hash differs from the signed checkpoint at seq 3 (chain rewritten)" in result.stdout


def test_csv_export_verifies_and_an_edit_is_caught(acme, api, tmp_path):  # noqa: ANN001
    fill_chain(acme, count=4, checkpoint_every=2)
    data = export(acme, fmt="csv")
    key = public_key_file(tmp_path, api)
    path = tmp_path / "audit.csv"
    path.write_bytes(data)
    result = run_verify(path, key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 5 entries (seq 1-5)" in result.stdout and "csv" in result.stdout
    path.write_bytes(data.replace(b"192.0.2.7", b"192.0.2.8", 1))
    result = run_verify(path, key)
    assert result.returncode == 1 and "entry seq 1: its hash does not match its content (edited)" in result.stdout


def test_ranged_export_verifies(acme, api, tmp_path):  # noqa: ANN001
    from compliance.models import AuditEntry
    from tenants.scope import tenant_scope

    fill_chain(acme, count=6, checkpoint_every=2)
    with tenant_scope(acme.tenant.id):
        third = AuditEntry.objects.get(seq=3)
    path = tmp_path / "range.jsonl"
    path.write_bytes(export(acme, **{"from": third.ts.isoformat()}))
    result = run_verify(path, public_key_file(tmp_path, api))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 5 entries (seq 3-7)" in result.stdout


def test_bad_input_exits_2(exported):  # noqa: ANN001
    lines, key, tmp_path = exported
    ok = write(tmp_path, lines, "ok.jsonl")
    missing = run_verify(tmp_path / "nope.jsonl", key)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad_key = run_verify(ok, "not-a-key")
    assert bad_key.returncode == 2 and "not base64 of a raw 32-byte Ed25519 public key" in bad_key.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_verify(empty, key).returncode == 2
    other_key = base64.b64encode(os.urandom(32)).decode()
    wrong = run_verify(ok, base64.b64encode(
        Ed25519PrivateKey.from_private_bytes(base64.b64decode(other_key)).public_key().public_bytes_raw()).decode())
    assert wrong.returncode == 1 and "signature does not verify" in wrong.stdout  # positive: a real key, wrong one


def test_verifier_imports_no_django(tmp_path):  # noqa: ANN001
    code = "import sys, compliance.verify; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
