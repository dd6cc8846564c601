"""The serving process keeps the garbage collector off its long-lived objects, and a replaced
knowledge version is still freed (common/gcpolicy.py)."""
import gc
import weakref

import pytest

from common.gcpolicy import after_replace, freeze_long_lived


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freezing_takes_what_lives_now_out_of_later_collections(unfrozen):
    keep = Node()
    freeze_long_lived()
    assert gc.get_freeze_count() > 0
    assert not any(o is keep for o in gc.get_objects(generation=2))  # permanent: no collection walks it


def test_a_replaced_frozen_cycle_is_freed_after_replace(unfrozen):
    old = Node()
    gone = weakref.ref(old)
    freeze_long_lived()
    del old
    gc.collect()
    assert gone() is not None, "a frozen cycle stays until the freeze is lifted"
    after_replace()
    assert gone() is None
    assert gc.get_freeze_count() > 0, "the new version is frozen again"


def test_after_replace_does_nothing_without_a_freeze(unfrozen):
    old = Node()
    gone = weakref.ref(old)
    del old
    after_replace()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None
