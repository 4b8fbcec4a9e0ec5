"""misper's policy engine: timelines in, explained evaluations out. It knows no web."""

from misper.engine.contract.evaluation import Evaluation
from misper.engine.contract.parse import parse_timeline
from misper.engine.contract.timeline import Timeline
from misper.engine.errors import (
    EngineError,
    FieldError,
    InvalidRequest,
    InvalidTimeline,
    NoPolicyInForce,
    PolicyInvalid,
    UnknownPolicy,
)
from misper.engine.inputs import agree, choose_policy, parse_instant
from misper.engine.judging.judge import evaluate
from misper.engine.policy.loader import load_policy
from misper.engine.policy.model import Policy
from misper.engine.policy.registry import PolicyRegistry, default_registry

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
