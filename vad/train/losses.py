"""Contrastive losses as small modules: NT-Xent (SimCLR) and InfoNCE with a queue (MoCo).

Under DDP, NT-Xent gathers the embeddings of every rank with gradients, so a global batch
of B split over N processes gives the same loss and gradients as one process with B.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for the local slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)
        n = grad.shape[0] // dist.get_world_size()
        rank = dist.get_rank()
        return grad[rank * n : (rank + 1) * n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (rank order); gradients flow back to each rank."""
    return _GatherWithGrad.apply(x) if _world()[1] > 1 else x


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank, without gradients."""
    if _world()[1] == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy over 2B views (SimCLR).

    Each of the 2B views has one positive (the other view of its image) and 2B - 2
    negatives; the loss is the mean over all views.
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        rank, _ = _world()
        n = z1.shape[0]
        g1, g2 = gather_with_grad(z1), gather_with_grad(z2)
        total = g1.shape[0]
        keys = torch.cat([g1, g2])  # (2B, d), global
        anchors = torch.cat([z1, z2])  # (2n, d), local
        logits = anchors @ keys.T / self.temperature
        local = torch.arange(n, device=z1.device) + rank * n
        self_index = torch.cat([local, local + total])
        positive = torch.cat([local + total, local])
        logits[torch.arange(2 * n, device=z1.device), self_index] = float("-inf")
        return F.cross_entropy(logits, positive)


class InfoNCEQueueLoss(nn.Module):
    """MoCo's InfoNCE: a query against its key (positive) and a queue of negatives."""

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)
        negative = q @ queue.float().T
        logits = torch.cat([positive, negative], dim=1) / self.temperature
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, target)
