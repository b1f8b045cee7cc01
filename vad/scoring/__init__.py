"""Scores computed from run outputs: rates and accuracies with bootstrap CIs, CLIP."""
