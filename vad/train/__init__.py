"""Contrastive pretraining on rendered images and scoring on real photos.

``config`` (what a run is), ``data`` (images as one uint8 array), ``augment`` (batched
views on the device), ``backbones``, ``losses``, ``methods`` (SimCLR, MoCo v2),
``trainer`` (the loop: DDP, checkpoints, resume), ``evaluate`` (kNN, linear probe) and
``report`` (random vs synthetic vs real, side by side).
"""
