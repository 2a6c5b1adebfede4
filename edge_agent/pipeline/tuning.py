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


def apply_tuning(camera: CameraConfig, members: Sequence[Member], tuning: Tuning | None
                 ) -> tuple[CameraConfig, list[Member]]:
    """The camera config and members with ``tuning`` applied where the config does not say otherwise."""
    if tuning is None:
        return camera, list(members)
    update: dict[str, Any] = {}
    if "smoothing" not in camera.model_fields_set:
        update["smoothing"] = tuning.smoothing
    explicit = camera.consensus.model_fields_set if "consensus" in camera.model_fields_set else set()
    consensus: dict[str, Any] = {}
    if "threshold" not in explicit:
        consensus["threshold"] = tuning.threshold
    if "k" not in explicit:
        consensus["k"] = tuning.k
    if consensus:
        update["consensus"] = camera.consensus.model_copy(update=consensus)
    out = []
    for m in members:
        if m.votes and m.name in tuning.weights:
            w = tuning.weights[m.name]
            if w <= 0:
                continue  # validation found it does not help on this camera: not run at all
            m = Member(m.name, m.model, m.calibrator, w)
        out.append(m)
    return camera.model_copy(update=update), out
