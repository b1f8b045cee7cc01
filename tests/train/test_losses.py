"""The contrastive losses against slow, loop-by-loop references."""

from __future__ import annotations

import math

import torch

from vad.train.losses import InfoNCEQueueLoss, NTXentLoss


def _slow_ntxent(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    z = [v / v.norm() for v in torch.cat([z1, z2])]
    n2 = len(z)
    half = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + half) % n2  # the other view of the same image
        sims = {m: float(z[i] @ z[m]) / t for m in range(n2) if m != i}
        total += -sims[j] + math.log(sum(math.exp(s) for s in sims.values()))
    return total / n2


def _slow_infonce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, t: float) -> float:
    total = 0.0
    for qi, ki in zip(q, k, strict=True):
        qi, ki = qi / qi.norm(), ki / ki.norm()
        logits = [float(qi @ ki) / t] + [float(qi @ neg) / t for neg in queue]
        total += -logits[0] + math.log(sum(math.exp(x) for x in logits))
    return total / len(q)


def test_ntxent_matches_the_manual_reference() -> None:
    torch.manual_seed(0)
    for n, t in ((2, 0.5), (5, 0.2), (8, 0.1)):
        z1, z2 = torch.randn(n, 16), torch.randn(n, 16)
        got = float(NTXentLoss(t)(z1, z2))
        assert math.isclose(got, _slow_ntxent(z1, z2, t), rel_tol=1e-5), (n, t)


def test_ntxent_is_low_for_matching_views_and_high_for_swapped_ones() -> None:
    torch.manual_seed(1)
    z = torch.randn(8, 32)
    aligned = NTXentLoss(0.1)(z, z + 0.01 * torch.randn_like(z))
    shuffled = NTXentLoss(0.1)(z, z.roll(1, dims=0))
    assert aligned < 0.5 < shuffled


def test_infonce_with_queue_matches_the_manual_reference() -> None:
    torch.manual_seed(2)
    q, k = torch.randn(6, 8), torch.randn(6, 8)
    queue = torch.nn.functional.normalize(torch.randn(20, 8), dim=1)
    got = float(InfoNCEQueueLoss(0.2)(q, k, queue))
    assert math.isclose(got, _slow_infonce(q, k, queue, 0.2), rel_tol=1e-5)


def test_ntxent_gradients_match_autograd_of_the_reference_formula() -> None:
    torch.manual_seed(3)
    z1 = torch.randn(4, 8, requires_grad=True)
    z2 = torch.randn(4, 8, requires_grad=True)
    NTXentLoss(0.3)(z1, z2).backward()
    a, b = z1.detach().clone().requires_grad_(), z2.detach().clone().requires_grad_()
    z = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / 0.3
    n2 = sim.shape[0]
    losses = []
    for i in range(n2):
        others = torch.cat([sim[i, :i], sim[i, i + 1 :]])
        pos = sim[i, (i + n2 // 2) % n2]
        losses.append(-pos + torch.logsumexp(others, 0))
    torch.stack(losses).mean().backward()
    assert torch.allclose(z1.grad, a.grad, atol=1e-6)
    assert torch.allclose(z2.grad, b.grad, atol=1e-6)
