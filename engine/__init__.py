"""misper's policy engine: timelines in, explained evaluations out. It knows no web."""

from engine.contract.evaluation import Evaluation
from engine.contract.parse import parse_timeline
from engine.contract.timeline import Timeline
from engine.errors import (
    EngineError,
    FieldError,
    InvalidRequest,
    InvalidTimeline,
    NoPolicyInForce,
    PolicyInvalid,
    UnknownPolicy,
)
from engine.inputs import agree, choose_policy, parse_instant
from engine.judging.judge import evaluate
from engine.policy.loader import load_policy
from engine.policy.model import Policy
from engine.policy.registry import PolicyRegistry, default_registry

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
