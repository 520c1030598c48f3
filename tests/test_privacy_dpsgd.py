"""DP-SGD training of the ARGN engine: per-row clipping, accounting, determinism, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datatwin._exceptions import InputError
from datatwin._privacy import ORDERS, PrivacyLedger
from datatwin.encoding import SubColumn
from datatwin.engines import DIFFERENTIAL_PRIVACY, ARGNEngine, engines_that_can
from datatwin.engines._argn import _Net

pytest.importorskip("opacus")

# Two columns of one sub-column each (one ordinal, with a missing code), one column split into
# two sub-columns, and a small categorical: every kind of head and group the net builds.
SUBS = [
    SubColumn(0, "age", 12, ordinal=True, has_na=True),
    SubColumn(1, "city", 5),
    SubColumn(2, "amount_bin", 4, ordinal=True),
    SubColumn(2, "amount_rest", 7, ordinal=True),
    SubColumn(3, "flag", 2),
]


def _codes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 12, n)
    city = (age // 3 + rng.integers(0, 2, n)) % 5  # depends on age, so there is something to learn
    return np.column_stack([age, city, rng.integers(0, 4, n), rng.integers(0, 7, n),
                            (city > 2).astype(int)]).astype(np.int32)


def _ledger(epsilon: float = 3.0, delta: float = 1e-5) -> PrivacyLedger:
    ledger = PrivacyLedger(epsilon, delta)
    ledger.gaussian("encoders: bins", sigma=8.0)  # what the encoders spent before the engine
    return ledger


def _fit(n: int = 400, seed: int = 0, ledger: PrivacyLedger | None = None, **params: object) -> ARGNEngine:
    params = {"dp_epochs": 2, "dp_batch_size": 64, "n_threads": 1, **params}
    return ARGNEngine(**params).fit(_codes(n), SUBS, seed=seed, privacy=ledger or _ledger())


@pytest.mark.parametrize("n_context", [0, 1])
def test_ghost_norms_equal_row_by_row_gradient_norms(n_context: int) -> None:
    # The norms DP-SGD clips are found without per-row gradients; they must be those norms.
    torch.manual_seed(0)
    net = _Net(SUBS, hidden=8, dropout=0.0, n_context=n_context)
    x = torch.from_numpy(_codes(6, seed=1).astype(np.int64))
    # Two column orders, as training uses: rows 0-2 canonical, rows 3-5 another order.
    orders = [(torch.arange(4), 0, 3), (torch.tensor([0, 3, 1, 2]) if n_context else torch.tensor([2, 0, 3, 1]),
                                        3, 6)]
    losses, tape = net.row_losses(x, orders)
    ghost = net.row_grad_norms(losses, tape)
    for i in range(len(x)):
        pos, a, _ = next(o for o in orders if o[1] <= i < o[2])
        net.zero_grad()
        row_loss, _ = net.row_losses(x[i:i + 1], [(pos, 0, 1)])
        row_loss.sum().backward()
        exact = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters() if p.grad is not None))
        assert ghost[i].item() == pytest.approx(exact.item(), rel=1e-4)
        assert losses[i].item() == pytest.approx(row_loss[0].item(), rel=1e-5)


def test_the_row_losses_average_to_the_training_loss() -> None:
    torch.manual_seed(0)
    net = _Net(SUBS, hidden=8, dropout=0.0)
    x = torch.from_numpy(_codes(10).astype(np.int64))
    orders = [(torch.arange(4), 0, 5), (torch.tensor([3, 1, 0, 2]), 5, 10)]
    assert net.row_losses(x, orders)[0].mean().item() == pytest.approx(net.loss(x, orders).item(), rel=1e-5)


def test_dp_fit_spends_within_budget_and_as_opacus_counts() -> None:
    from opacus.accountants import RDPAccountant

    ledger = _ledger()
    before = ledger.epsilon_with()
    engine = _fit(ledger=ledger)
    dp = engine.dp_
    assert dp is not None and dp["steps"] == dp["planned_steps"] == 2 * round(400 / 64)
    step = ledger.steps[-1]
    assert step["what"] == "engine: DP-SGD" and step["steps"] == dp["steps"]
    assert step["sample_rate"] == pytest.approx(64 / 400) and step["noise_multiplier"] == dp["noise_multiplier"]
    spent = ledger.spent()["epsilon"]
    assert before < spent <= ledger.epsilon
    assert spent > 0.99 * ledger.epsilon  # the calibration leaves little of the budget unused

    # The training alone, by opacus' accountant on the same schedule (same orders, same δ).
    acc = RDPAccountant()
    for _ in range(dp["steps"]):
        acc.step(noise_multiplier=dp["noise_multiplier"], sample_rate=dp["sample_rate"])
    alone = PrivacyLedger(ledger.epsilon, ledger.delta)
    alone.subsampled_gaussian("engine: DP-SGD", dp["noise_multiplier"], dp["sample_rate"], dp["steps"])
    opacus_eps = acc.get_epsilon(delta=ledger.conversion_delta, alphas=list(ORDERS))
    assert alone.spent()["epsilon"] == pytest.approx(opacus_eps, abs=1e-3)
    assert ledger.spent()["epsilon_alone_by_step"]["engine"] == pytest.approx(opacus_eps, abs=1e-3)
    # With opacus' own (narrower) default orders the bound is the same or looser, never tighter.
    assert acc.get_epsilon(delta=ledger.conversion_delta) >= opacus_eps - 1e-9


def test_a_private_fit_samples_valid_codes_and_keeps_its_schedule_in_the_state() -> None:
    engine = _fit()
    assert engine.history_ and all(set(h) == {"epoch", "steps"} for h in engine.history_)  # no private loss
    out = engine.sample(500, seed=1, forbidden=[np.array([], int)] * len(SUBS))
    assert out.shape == (500, len(SUBS))
    for j, sc in enumerate(SUBS):
        assert out[:, j].min() >= 0 and out[:, j].max() < sc.cardinality
    state, arrays = engine.get_state()
    assert state["dp"]["noise_multiplier"] == engine.dp_["noise_multiplier"]
    again = ARGNEngine(**engine.get_params())
    again.set_state(SUBS, state, arrays)
    assert again.dp_ == engine.dp_
    forbid = [np.array([], int)] * len(SUBS)
    np.testing.assert_array_equal(again.sample(200, seed=3, forbidden=forbid),
                                  engine.sample(200, seed=3, forbidden=forbid))


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b, c = _fit(seed=5), _fit(seed=5), _fit(seed=6)
    arrays_a, arrays_b, arrays_c = a.get_state()[1], b.get_state()[1], c.get_state()[1]
    assert all(arrays_a[k].tobytes() == arrays_b[k].tobytes() for k in arrays_a)
    assert a.get_state()[0] == b.get_state()[0]
    assert any(arrays_a[k].tobytes() != arrays_c[k].tobytes() for k in arrays_a)


def test_a_budget_the_encoders_already_spent_is_refused() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    ledger.gaussian("encoders: everything", sigma=0.5)  # alone more than ε = 1
    with pytest.raises(InputError, match="too small"):
        _fit(ledger=ledger)


def test_time_budget_stops_early_and_the_ledger_counts_only_the_steps_taken() -> None:
    ledger = _ledger()
    engine = _fit(ledger=ledger, max_training_time=1e-9)
    assert engine.stopped_by_ == "max_training_time"
    assert engine.dp_["steps"] == 1 < engine.dp_["planned_steps"]
    assert ledger.steps[-1]["steps"] == 1
    assert ledger.spent()["epsilon"] < 0.9 * ledger.epsilon


def test_argn_declares_differential_privacy_and_checks_its_dp_params() -> None:
    assert ARGNEngine.can(DIFFERENTIAL_PRIVACY) and "argn" in engines_that_can(DIFFERENTIAL_PRIVACY)
    for bad in ({"max_grad_norm": 0}, {"dp_epochs": 0}, {"dp_batch_size": 1.5}, {"dp_learning_rate": -1.0}):
        with pytest.raises(InputError, match=next(iter(bad))):
            _fit(**bad)


def test_the_schedule_depends_on_the_row_count_only() -> None:
    engine = ARGNEngine()
    assert engine.dp_schedule(50_000) == engine.dp_schedule(50_000)
    epochs, batch, lr = engine.dp_schedule(50_000)
    assert 512 <= batch <= 2048 and 10 <= epochs <= 30 and lr > engine.learning_rate
    assert engine.dp_schedule(30)[1] <= 30


def test_the_noise_is_the_least_the_full_grid_of_orders_allows() -> None:
    # The search runs on a few orders first (speed); it must find what a search over all finds.
    from datatwin._privacy import calibrate, subsampled_gaussian_rdp
    from datatwin.engines._argn import _noise_multiplier

    ledger = _ledger(epsilon=1.0)
    q, steps = 0.03, 300
    fast = _noise_multiplier(ledger, q, steps)
    full = calibrate(lambda z: ledger.epsilon_with(subsampled_gaussian_rdp(z, q, steps)), ledger.epsilon, tol=1e-3)
    assert ledger.epsilon_with(subsampled_gaussian_rdp(fast, q, steps)) <= ledger.epsilon
    assert fast == pytest.approx(full, abs=2e-3)
