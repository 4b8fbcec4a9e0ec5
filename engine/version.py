"""The engine's version: stamped on every evaluation beside the policy's hash."""

__version__ = "0.2.0"
ENGINE_NAME = "misper"
