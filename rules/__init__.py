"""The policy versions misper ships, one folder each; read by engine.policy.loader, not code."""

from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent
