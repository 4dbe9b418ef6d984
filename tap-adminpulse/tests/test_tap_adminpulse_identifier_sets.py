"""The run's sets of relation identifiers, kept on disk: what goes in comes out, once, sorted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tap_adminpulse.identifier_sets import READ_BATCH, IdentifierSets

MORE_THAN_A_BATCH = READ_BATCH * 2 + 7


@pytest.fixture
def sets() -> Iterator[IdentifierSets]:
    identifier_sets = IdentifierSets()
    yield identifier_sets
    identifier_sets.close()


def test_identifiers_come_back_once_each_in_sorted_order_past_one_batch(sets):
    emitted = sets.named("emitted")
    identifiers = [f"uid-{number:05d}" for number in range(MORE_THAN_A_BATCH)]
    for identifier in reversed(identifiers):
        emitted.add(identifier)
    emitted.update(identifiers[:10])  # added twice: still once

    assert list(emitted) == identifiers
    assert len(emitted) == MORE_THAN_A_BATCH
    assert "uid-00600" in emitted
    assert "uid-99999" not in emitted
    assert None not in emitted


def test_sets_of_one_run_are_separate_and_the_missing_ones_are_their_difference(sets):
    emitted, linked, missing = (sets.named(name) for name in ("emitted", "linked", "missing"))
    emitted.update(["a", "b", "c"])
    linked.update(["b", "d", "", "e"])

    missing.add_missing(linked, present=emitted)

    assert list(missing) == ["", "d", "e"]
    assert list(emitted) == ["a", "b", "c"]
    missing.clear()
    assert len(missing) == 0
    assert list(linked) == ["", "b", "d", "e"]


def test_closing_deletes_the_sets(sets):
    new_relations = sets.named("new_relations")
    new_relations.add("a")

    sets.close()

    assert len(new_relations) == 0
    assert not new_relations
