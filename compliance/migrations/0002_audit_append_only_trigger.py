"""PostgreSQL: a trigger refuses UPDATE and DELETE on the audit tables (the app has no update path).

Vendor-conditional: on SQLite (the embedded default) the model layer's refusal is the guard.
TRUNCATE is not refused: Django's test runner (and `manage.py flush`) empties every table with
TRUNCATE; rewriting the log that way still breaks the chain against the signed checkpoints, which
the offline verifier reports.
"""

from django.db import migrations

TABLES = ("compliance_auditentry", "compliance_auditcheckpoint")

FUNCTION = """
CREATE OR REPLACE FUNCTION compliance_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # None: its '%' are plpgsql's, not placeholders
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION compliance_audit_append_only()")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS compliance_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
