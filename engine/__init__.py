"""misper's policy engine: timelines in, explained evaluations out. It knows no web."""

from engine.errors import (
    EngineError,
    FieldError,
    InvalidRequest,
    InvalidTimeline,
    NoPolicyInForce,
    PolicyInvalid,
    UnknownPolicy,
)
from engine.evaluate import evaluate
from engine.evaluation import Evaluation
from engine.inputs import agree, choose_policy, parse_instant
from engine.loader import Policy, load_policy
from engine.parse import parse_timeline
from engine.registry import PolicyRegistry, default_registry
from engine.timeline import Timeline

__all__ = [
    "EngineError",
    "Evaluation",
    "FieldError",
    "InvalidRequest",
    "InvalidTimeline",
    "NoPolicyInForce",
    "Policy",
    "PolicyInvalid",
    "PolicyRegistry",
    "Timeline",
    "UnknownPolicy",
    "agree",
    "choose_policy",
    "default_registry",
    "evaluate",
    "load_policy",
    "parse_instant",
    "parse_timeline",
]
