"""The scripted fault-rule queue of the simulators: the first rule that matches a request is
applied and one of its uses consumed (a rule with ``count`` N serves N requests and then leaves
the queue; ``count`` None stays until removed). What a rule matches on (an endpoint, a model)
and what it answers are each simulator's own."""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from typing import Protocol, TypeVar


class CountedRule(Protocol):
    @property
    def count(self) -> int | None: ...

    @count.setter
    def count(self, value: int) -> None: ...


RuleT = TypeVar("RuleT", bound=CountedRule)


def take_rule(rules: MutableSequence[RuleT], matches: Callable[[RuleT], bool]) -> RuleT | None:
    """The first rule of `rules` that `matches` accepts, one use consumed; None when none does."""
    for rule in rules:
        if matches(rule):
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    rules.remove(rule)
            return rule
    return None
