"""Edge model plug-ins for the policy tests: real registry entries (``register``) whose only
point is their declared capabilities, so a camera can be configured with them."""

from __future__ import annotations

from edge_agent.models.base import AnomalyModel, Capability, Frame, ModelScore
from edge_agent.models.registry import register


@register
class EmotionProbe(AnomalyModel):
    type_key = "test_emotion_probe"
    capabilities = frozenset({Capability.EMOTION_RECOGNITION, Capability.FACE_DETECTION})
    needs_fit = False

    def score(self, frame: Frame) -> ModelScore:
        return ModelScore(raw=0.0)


@register
class PoseProbe(AnomalyModel):
    type_key = "test_pose_probe"
    capabilities = frozenset({Capability.POSE_ESTIMATION})
    needs_fit = False

    def score(self, frame: Frame) -> ModelScore:
        return ModelScore(raw=0.0)
