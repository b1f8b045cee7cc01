"""Run outputs -> a static site (HTML), CSV and Markdown tables, nothing else read."""

from vad.leaderboard.build import build_leaderboard

__all__ = ["build_leaderboard"]
