"""A camera's tuning: what ``vad-edge train`` chose from that camera's own validation.

Stored in the model bundle's manifest (``tuning``) and applied by ``build_pipeline``: the
ensemble weights (0 = the model neither votes nor runs), the k of the weighted k-of-n vote, the
vote threshold and the smoothing. A setting the camera's config gives explicitly wins over the
bundle's (``Smoothing`` / ``Consensus`` fields the config sets), so an operator can always
override what validation chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, JsonValue

from edge_agent.config import CameraConfig, Smoothing, Strict
from edge_agent.errors import BundleError
from edge_agent.pipeline.pipeline import Member


class Tuning(Strict):
    weights: dict[str, float]  # per voting model, >= 0; 0 = left out
    k: float = Field(gt=0)
    threshold: float = Field(gt=0)
    smoothing: Smoothing
    rule: str = ""  # how it was chosen, in words
    validation: dict[str, JsonValue] = Field(default_factory=dict)  # the figures that chose it


def parse_tuning(data: dict[str, Any] | None, label: str = "bundle") -> Tuning | None:
    if data is None:
        return None
    try:
        return Tuning.model_validate(data)
    except ValueError as err:
        raise BundleError(f"{label}: tuning in the manifest is invalid: {err}") from err


def with_settings(camera: CameraConfig, members: Sequence[Member], *, smoothing: Smoothing | None = None,
                  weights: dict[str, float] | None = None, k: float | None = None, threshold: float | None = None
                  ) -> tuple[CameraConfig, list[Member]]:
    """The camera config and members with these settings in force (None keeps the camera's own).
    A voting model named in ``weights`` takes that weight; weight 0 leaves it out (not even run)."""
    update: dict[str, Any] = {}
    if smoothing is not None:
        update["smoothing"] = smoothing
    consensus = {key: v for key, v in (("threshold", threshold), ("k", k)) if v is not None}
    if consensus:
        update["consensus"] = camera.consensus.model_copy(update=consensus)
    out = []
    for m in members:
        if weights is not None and m.votes and m.name in weights:
            if weights[m.name] <= 0:
                continue
            m = Member(m.name, m.model, m.calibrator, weights[m.name])
        out.append(m)
    return (camera.model_copy(update=update) if update else camera), out


def apply_tuning(camera: CameraConfig, members: Sequence[Member], tuning: Tuning | None
                 ) -> tuple[CameraConfig, list[Member]]:
    """The camera config and members with ``tuning`` applied where the config does not say otherwise."""
    if tuning is None:
        return camera, list(members)
    explicit = camera.consensus.model_fields_set if "consensus" in camera.model_fields_set else set()
    return with_settings(camera, members,
                         smoothing=None if "smoothing" in camera.model_fields_set else tuning.smoothing,
                         weights=tuning.weights, k=None if "k" in explicit else tuning.k,
                         threshold=None if "threshold" in explicit else tuning.threshold)
