"""Context columns in the ARGN engine: the groundwork for child tables and sequences."""

from __future__ import annotations

import numpy as np
import pytest

from datatwin import InputError
from datatwin.encoding import SubColumn
from datatwin.engines import ENGINES


def parent_child(n: int = 4000, seed: int = 0) -> np.ndarray:
    """Column 0: the parent's segment (3 levels); column 1: the child's plan, which depends on it."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 3, n)
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    plan = np.array([rng.choice(3, p=p[s]) for s in segment])
    noise = rng.integers(0, 4, n)
    return np.stack([segment, plan, noise], axis=1).astype(np.int32)


SUBS = [SubColumn(0, "segment", 3), SubColumn(1, "plan", 3), SubColumn(2, "noise", 4)]
NONE = [np.array([], dtype=np.int64)] * 3


@pytest.fixture(scope="module")
def engine():
    return ENGINES["argn"](max_epochs=30).fit(parent_child(), SUBS, seed=0, n_context=1)


def test_children_follow_the_given_parent(engine):
    segment = np.repeat([0, 1, 2], 2000).astype(np.int32)
    out = engine.sample(6000, seed=1, forbidden=NONE, fixed={0: segment})
    assert (out[:, 0] == segment).all()
    for s in range(3):
        share = (out[segment == s, 1] == s).mean()
        assert 0.72 < share < 0.88, (s, share)


def test_context_is_not_learned_and_must_be_given(engine):
    # The loss covers the child columns only: H(plan | segment) + log 4 = 0.64 + 1.39 nats; the
    # joint's would add the segment's log 3 = 1.10.
    assert engine.val_loss_ < 0.75 + np.log(4) + 0.1
    with pytest.raises(InputError, match="context columns"):
        engine.sample(10, seed=1, forbidden=NONE)
    state, arrays = engine.get_state()
    again = ENGINES["argn"](**engine.get_params())
    again.set_state(SUBS, state, arrays)
    fixed = {0: np.zeros(50, dtype=np.int32)}
    assert (again.sample(50, seed=2, forbidden=NONE, fixed=fixed) == engine.sample(50, seed=2, forbidden=NONE,
                                                                                     fixed=fixed)).all()


def test_bad_context_arguments():
    with pytest.raises(InputError, match="n_context"):
        ENGINES["argn"](max_epochs=1).fit(parent_child(100), SUBS, seed=0, n_context=5)
    with pytest.raises(InputError, match="copula"):
        ENGINES["copula"]().fit(parent_child(100), SUBS, seed=0, n_context=1)
