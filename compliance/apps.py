from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from compliance import audit_tasks, signals  # noqa: F401  (sign-in audit receivers; beat task)
