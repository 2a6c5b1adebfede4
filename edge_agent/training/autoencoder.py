"""Train the patch autoencoder with torch and export it to ONNX (training only; inference uses onnxruntime).

Input: motion-gated patches of shape (N, 3, P, P) - a locally normalised gray patch plus the two
flow components (see ``edge_agent/models/autoencoder.py``). The network is a small convolutional
encoder (two stride-2 convolutions) to a ``latent``-dimensional code and a mirrored decoder; the
loss is the mean squared reconstruction error. Seeds and thread counts are fixed, so two runs on
the same data give the same weights.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edge_agent.errors import ConfigError


class PatchAutoencoder(nn.Module):
    """(N, C, P, P) -> (N, C, P, P); P must be divisible by 4."""

    def __init__(self, channels: int = 3, patch: int = 16, latent: int = 32) -> None:
        super().__init__()
        if patch % 4:
            raise ConfigError(f"autoencoder patch size must be divisible by 4, got {patch}")
        side = patch // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 16, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * side * side, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 32 * side * side), nn.ReLU(),
            nn.Unflatten(1, (32, side, side)),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(16, channels, 4, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 6
    batch: int = 256
    lr: float = 1e-3
    latent: int = 32
    seed: int = 0
    threads: int = 2


def train_autoencoder(patches: np.ndarray, settings: TrainSettings = TrainSettings(),
                      progress: Callable[[int, float], None] | None = None) -> PatchAutoencoder:
    """Fit the autoencoder on ``patches`` (N, C, P, P) float32; ``progress(epoch, loss)`` per epoch."""
    if patches.ndim != 4 or patches.shape[2] != patches.shape[3]:
        raise ConfigError(f"patches must be (N, C, P, P), got shape {patches.shape}")
    if len(patches) < settings.batch:
        raise ConfigError(f"autoencoder needs at least {settings.batch} training patches, got {len(patches)}")
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    gen = torch.Generator().manual_seed(settings.seed)
    model = PatchAutoencoder(patches.shape[1], patches.shape[2], settings.latent)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    data = torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))
    model.train()
    for epoch in range(settings.epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for start in range(0, len(data), settings.batch):
            x = data[order[start:start + settings.batch]]
            loss = ((model(x) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(x)
        if progress:
            progress(epoch + 1, total / len(data))
    model.eval()
    return model


def export_onnx(model: PatchAutoencoder, channels: int, patch: int) -> bytes:
    """The model as ONNX bytes with a dynamic batch axis (input ``patches``, output ``recon``)."""
    dummy = torch.zeros(2, channels, patch, patch)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter is deliberate: it needs no onnxscript and handles this small graph exactly
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), buf, input_names=["patches"], output_names=["recon"],
                          dynamic_axes={"patches": {0: "n"}, "recon": {0: "n"}}, opset_version=17, dynamo=False)
    return buf.getvalue()


def reconstruct(model: PatchAutoencoder, patches: np.ndarray) -> np.ndarray:
    """Torch reconstruction (used by tests to compare with onnxruntime)."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(patches, dtype=np.float32))).numpy()


__all__ = ["PatchAutoencoder", "TrainSettings", "export_onnx", "reconstruct", "train_autoencoder"]
