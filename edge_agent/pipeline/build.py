"""Assemble a camera's :class:`Pipeline` from its config, the policy and an optional bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.config import CameraConfig, FaceHaarModel, Policy, ZoneRulesModel
from edge_agent.errors import BundleError, ConfigError
from edge_agent.models.base import AnomalyModel
from edge_agent.models.bundle import Bundle, load_bundle
from edge_agent.models.registry import load_model
from edge_agent.pipeline.pipeline import Member, Pipeline
from edge_agent.pipeline.preprocess import FaceBlur


def model_params(camera: CameraConfig, cfg: Any) -> dict[str, Any]:
    """Constructor params for a model config: its own params plus the camera's frame geometry."""
    params: dict[str, Any] = {"width": camera.resize[0], "height": camera.resize[1], "channels": 3 if camera.color else 1}
    if isinstance(cfg, ZoneRulesModel):
        params["zones"] = [z.model_dump(mode="json") for z in camera.zones]
    params.update(cfg.model_params())
    return params


def fresh_members(camera: CameraConfig, policy: Policy | None) -> list[Member]:
    """Unfitted models from the camera config (policy-checked)."""
    return [Member(cfg.model_name, load_model(cfg.type, params=model_params(camera, cfg), policy=policy,
                                              name=cfg.model_name), None, cfg.weight)
            for cfg in camera.effective_models()]


def members_for(camera: CameraConfig, policy: Policy | None, bundle: Bundle | None) -> list[Member]:
    """The bundle's fitted models, plus config models that need no fitting and are not in the bundle."""
    if bundle is None:
        members = fresh_members(camera, policy)
        if unfitted := [m.name for m in members if m.model.needs_fit]:
            raise ConfigError(f"camera {camera.id!r}: models {unfitted} need fitting; run `vad-edge train` "
                              "and pass the bundle (--bundle or camera.bundle)")
        return members
    have = {m.name for m in bundle.members}
    extra = [m for m in fresh_members(camera, policy) if m.name not in have and not m.model.needs_fit] \
        if camera.models is not None else []
    return [*bundle.members, *extra]


def face_blur_for(camera: CameraConfig, policy: Policy | None) -> FaceBlur | None:
    if not camera.blur_faces:
        return None
    model: AnomalyModel = load_model("face_haar", params=model_params(camera, FaceHaarModel(type="face_haar")), policy=policy,
                                     name="face_blur")
    return FaceBlur(model)


def build_pipeline(camera: CameraConfig, policy: Policy | None = None, bundle: Bundle | Path | str | None = None,
                   *, warmup: bool = True) -> Pipeline:
    if bundle is None and camera.bundle:
        bundle = camera.bundle
    if isinstance(bundle, (str, Path)):
        bundle = load_bundle(bundle, policy=policy)
    if bundle is not None and tuple(bundle.manifest.resize) != tuple(camera.resize):
        raise BundleError(f"bundle was fitted at resize {list(bundle.manifest.resize)} but camera {camera.id!r} "
                          f"has resize {list(camera.resize)}")
    members = members_for(camera, policy, bundle)
    if bundle is not None:
        from edge_agent.pipeline.tuning import apply_tuning, parse_tuning  # late: tuning imports pipeline

        camera, members = apply_tuning(camera, members, parse_tuning(bundle.manifest.tuning, str(bundle.root)))
    pipeline = Pipeline(camera, members, face_blur_for(camera, policy))
    if warmup:
        pipeline.warmup()
    return pipeline
