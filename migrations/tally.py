"""Counting what a pass over the keyspace met: value classes per field, problems by kind (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from om_runbook.migrations.backup_format import Problem
from om_runbook.migrations.codec import ValueClass
from om_runbook.migrations.report import PROBLEM_LIST_LIMIT


@dataclass
class Tally:
    keys_scanned: int = 0
    bookkeeping_keys: int = 0  # redis-om's own {index}:hash / {index}:schema under a prefix: not records
    keys_with_changes: int = 0
    fields_to_change: int = 0
    value_counts: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    problems: list[Problem] = field(default_factory=list)
    problem_counts: Counter[str] = field(default_factory=Counter)
    bytes_to_back_up: int = 0

    def add_problem(self, problem: Problem) -> None:
        self.problem_counts[problem.kind] += 1
        if len(self.problems) < PROBLEM_LIST_LIMIT:
            self.problems.append(problem)

    def add_classes(self, model: str, classes: tuple[tuple[str, ValueClass], ...]) -> None:
        counts = self.value_counts
        for name, value_class in classes:
            counts[model + "." + name][value_class._value_] += 1  # _value_: .value is a Python-level property

    def merge(self, other: Tally) -> None:
        """Add what another pass counted (a worker's share of the same scan)."""
        self.keys_scanned += other.keys_scanned
        self.bookkeeping_keys += other.bookkeeping_keys
        self.keys_with_changes += other.keys_with_changes
        self.fields_to_change += other.fields_to_change
        self.bytes_to_back_up += other.bytes_to_back_up
        for name, counts in other.value_counts.items():
            self.value_counts[name].update(counts)
        self.problem_counts.update(other.problem_counts)
        self.problems += other.problems[: max(0, PROBLEM_LIST_LIMIT - len(self.problems))]

    def count(self, value_class: ValueClass) -> int:
        return sum(counts[value_class.value] for counts in self.value_counts.values())

    @property
    def unreadable(self) -> int:
        """Values and keys the run cannot convert: they count as failed in the KPIs."""
        return self.count(ValueClass.UNPARSEABLE) + self.problem_counts["wrong_type"]

    def plain_value_counts(self) -> dict[str, dict[str, int]]:
        return {name: dict(counts) for name, counts in sorted(self.value_counts.items())}
