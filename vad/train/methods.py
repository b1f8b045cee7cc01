"""SimCLR and MoCo v2 as modules whose forward takes two views and returns the loss."""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from vad.registry import Registry
from vad.train.losses import InfoNCEQueueLoss, NTXentLoss, _world, gather


def projector(dim: int, hidden: int, out: int) -> nn.Module:
    """The MLP head of SimCLR / MoCo v2: Linear, ReLU, Linear."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


METHODS: Registry[nn.Module] = Registry("no method {name}: choose from {choices}")


@METHODS.register("simclr")
class SimCLR(nn.Module):
    def __init__(self, backbone: nn.Module, dim: int, hidden: int, out: int, **kw: float) -> None:
        super().__init__()
        self.backbone, self.head = backbone, projector(dim, hidden, out)
        self.loss = NTXentLoss(kw.get("temperature", 0.2))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.head(self.backbone(torch.cat([x1, x2])))
        z1, z2 = z.chunk(2)
        return self.loss(z1, z2)


@METHODS.register("moco")
class MoCo(nn.Module):
    """MoCo v2: a momentum key encoder and a queue of past keys as negatives.

    Under DDP the key batch is shuffled across ranks before the key encoder and
    unshuffled after (shuffle BN), and the queue takes the keys of every rank.
    """

    def __init__(self, backbone: nn.Module, dim: int, hidden: int, out: int, **kw: float) -> None:
        super().__init__()
        self.backbone, self.head = backbone, projector(dim, hidden, out)
        self.key_backbone = copy.deepcopy(backbone)
        self.key_head = copy.deepcopy(self.head)
        for p in [*self.key_backbone.parameters(), *self.key_head.parameters()]:
            p.requires_grad_(False)
        self.momentum = float(kw.get("momentum", 0.99))
        self.loss = InfoNCEQueueLoss(kw.get("temperature", 0.2))
        size = int(kw.get("queue_size", 4096))
        self.register_buffer("queue", F.normalize(torch.randn(size, out), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _momentum_update(self) -> None:
        pairs = zip(
            [*self.key_backbone.parameters(), *self.key_head.parameters()],
            [*self.backbone.parameters(), *self.head.parameters()],
            strict=True,
        )
        for k, q in pairs:
            k.mul_(self.momentum).add_(q.detach(), alpha=1 - self.momentum)

    @torch.no_grad()
    def _keys(self, x: torch.Tensor) -> torch.Tensor:
        rank, world = _world()
        if world == 1:
            return F.normalize(self.key_head(self.key_backbone(x)).float(), dim=1)
        every = gather(x)
        order = torch.randperm(every.shape[0], device=x.device)
        dist.broadcast(order, 0)
        n = x.shape[0]
        mine = order[rank * n : (rank + 1) * n]
        k = F.normalize(self.key_head(self.key_backbone(every[mine])).float(), dim=1)
        undo = torch.argsort(order)
        return gather(k)[undo][rank * n : (rank + 1) * n]

    @torch.no_grad()
    def _enqueue(self, k: torch.Tensor) -> None:
        keys = gather(k)
        size, ptr = self.queue.shape[0], int(self.queue_ptr)
        index = (torch.arange(keys.shape[0], device=keys.device) + ptr) % size
        self.queue[index] = keys.to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + keys.shape[0]) % size)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        q = self.head(self.backbone(x1))
        self._momentum_update()
        k = self._keys(x2)
        loss = self.loss(q, k, self.queue.clone().detach())
        self._enqueue(k)
        return loss
