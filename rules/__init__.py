"""The policy versions misper ships, one folder each; read by the engine's policy loader, not code.

The folder is found through ``importlib.resources.files("misper.rules")``."""
