from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        from cameras.edgeconfig import set_model_bundle_provider
        from detection.artifacts import bundle_refs_for_device

        set_model_bundle_provider(bundle_refs_for_device)  # the signed device config lists the bundles
