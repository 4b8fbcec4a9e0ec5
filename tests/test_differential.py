"""The engine gives the answers recorded for a few hundred generated timelines (see
tests/support/differential.py): rewriting how rules are matched must not change what is found."""

from __future__ import annotations

import json

import pytest

from tests.support.differential import CASES, answer, reference

REFERENCE = reference()


def test_the_reference_covers_every_case() -> None:
    assert [r["case"] for r in REFERENCE] == list(range(CASES))
    assert not [r for r in REFERENCE if "error" in r], "every generated timeline is valid"


@pytest.mark.parametrize("chunk", range(10))
def test_same_answers_as_the_reference(chunk: int) -> None:
    differ = []
    for n in range(chunk, CASES, 10):
        got = answer(n)
        if got != REFERENCE[n]:
            differ.append(n)
    if differ:
        n = differ[0]
        got, want = answer(n), REFERENCE[n]
        detail = json.dumps({"got": got, "want": want}, indent=1)[:6000]
        pytest.fail(f"cases {differ} differ from the reference; the first:\n{detail}")
