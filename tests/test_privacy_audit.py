"""The privacy audit (#14): the ε lower bound, and an audit that passes DP fits and catches a
non-private one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datatwin
from datatwin.evaluation import epsilon_lower_bound

INSURANCE = "src/datatwin/datasets/insurance.csv"


def _chain(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Four 8-level columns, each the previous one plus 0 or 1: most pairs of values never
    occur, so a model that copies a canary's pair shows it."""
    rng = np.random.default_rng(seed)
    prev = rng.integers(0, 8, n)
    cols = {"a": prev}
    for name in "bcd":
        prev = (prev + rng.integers(0, 2, n)) % 8
        cols[name] = prev
    return pd.DataFrame({k: [f"{k}{v}" for v in x] for k, x in cols.items()})


# ---------------------------------------------------------------------------- the bound
def test_bound_known_values():
    assert epsilon_lower_bound(1000, 100, 50) == 0.0
    assert epsilon_lower_bound(1000, 0, 0) == 0.0
    # All right: the bound solves q**r = 0.05 with q = e^eps / (1 + e^eps).
    r = 100
    q = 0.05 ** (1 / r)
    assert epsilon_lower_bound(1000, r, r) == pytest.approx(np.log(q / (1 - q)), abs=1e-6)
    grows = [epsilon_lower_bound(1000, r, r) for r in (10, 50, 200, 500)]
    assert grows == sorted(grows) and grows[0] > 0


def test_bound_delta_and_confidence_lower_it():
    plain = epsilon_lower_bound(1000, 200, 180)
    assert epsilon_lower_bound(1000, 200, 180, delta=1e-5) < plain
    assert epsilon_lower_bound(1000, 200, 180, confidence=0.99) < plain
    assert epsilon_lower_bound(1000, 200, 180, delta=1e-3) < epsilon_lower_bound(1000, 200, 180, delta=1e-5)


def test_bound_rejects_bad_input():
    with pytest.raises(datatwin.InputError, match="correct <= guesses"):
        epsilon_lower_bound(10, 5, 6)
    with pytest.raises(datatwin.InputError, match="confidence"):
        epsilon_lower_bound(10, 5, 5, confidence=1.0)


@settings(max_examples=60, deadline=None)
@given(r=st.integers(1, 300), frac=st.floats(0, 1), extra=st.integers(0, 5))
def test_bound_monotone_in_correct_guesses(r, frac, extra):
    v = int(frac * r)
    m = r + extra
    lo = epsilon_lower_bound(m, r, v, delta=1e-6)
    hi = epsilon_lower_bound(m, r, min(v + 1, r), delta=1e-6)
    assert 0.0 <= lo <= hi + 1e-9
    if v <= r / 2:
        assert lo == 0.0  # no better than a coin: nothing shown


# ---------------------------------------------------------------------------- the audit
@pytest.mark.parametrize("epsilon", [1.0, 8.0])
def test_dp_fit_is_consistent(epsilon):
    df = pd.read_csv(INSURANCE)
    syn = datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(epsilon=epsilon, noise_seed=0))
    res = datatwin.audit_privacy(df, syn, canaries=100, n_synthetic=20_000, seed=0)
    assert res.claimed_epsilon <= epsilon
    assert res.empirical_epsilon < res.claimed_epsilon
    assert res.verdict == "consistent" and not res.violated
    assert res.canaries == 100 and 0 < res.included < 100 and res.correct <= res.guesses <= 100
    d = res.to_dict()
    assert d["verdict"] == "consistent" and d["claimed_delta"] == res.claimed_delta


def test_non_private_fit_is_caught():
    """The audit can fail: exact counts audited as if they were ε = 1 private."""
    res = datatwin.audit_privacy(_chain(), datatwin.Synthesizer(engine="marginal"), canaries=100,
                                 claimed_epsilon=1.0, seed=2)
    assert res.empirical_epsilon > 1.0
    assert res.verdict == "VIOLATED" and res.violated
    assert res.correct >= 0.9 * res.guesses


def test_same_seed_same_audit():
    # A DP fit draws fresh noise every time (by design), so determinism is checked on a
    # non-private fit: canaries, insertion, attack and bound all follow the audit's seed.
    df = _chain(800)
    syn = datatwin.Synthesizer(engine="marginal")
    a = datatwin.audit_privacy(df, syn, canaries=40, n_synthetic=5000, seed=3, claimed_epsilon=2.0)
    b = datatwin.audit_privacy(df, syn, canaries=40, n_synthetic=5000, seed=3, claimed_epsilon=2.0)
    assert a == b


def test_audit_rejects_bad_input():
    df = _chain(200)
    with pytest.raises(datatwin.InputError, match="no privacy budget"):
        datatwin.audit_privacy(df, datatwin.Synthesizer(engine="marginal"))
    with pytest.raises(datatwin.InputError, match="canaries"):
        datatwin.audit_privacy(df, datatwin.Synthesizer(engine="marginal"), canaries=3, claimed_epsilon=1)
    with pytest.raises(datatwin.InputError, match="DataFrame"):
        datatwin.audit_privacy("x.csv", datatwin.Synthesizer(engine="marginal"), claimed_epsilon=1)
    with pytest.raises(datatwin.InputError, match="at least two columns"):
        datatwin.audit_privacy(df[["a"]], datatwin.Synthesizer(engine="marginal"), claimed_epsilon=1)


# ---------------------------------------------------------------------------- the CLI
def test_cli_audit(tmp_path, capsys):
    import json

    from datatwin.cli import main

    data = tmp_path / "chain.csv"
    _chain(800).to_csv(data, index=False)
    out = tmp_path / "audit.json"
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(data), "--epsilon", "1", "--canaries", "40", "--json", str(out)])
        raise SystemExit(0)
    assert exc.value.code == 0
    got = json.loads(out.read_text())
    assert got["verdict"] == "consistent" and got["claimed_epsilon"] <= 1.0
    assert "privacy audit" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(data), "--epsilon", "-1"])
    assert exc.value.code == 1
    assert "epsilon must be a positive" in capsys.readouterr().err


def test_cli_audit_violation_exit_status(tmp_path, monkeypatch):
    import dataclasses

    from datatwin.cli import _app, main

    real = _app.audit_privacy

    def broken(*args, **kwargs):  # stands in for a fit that leaks: the CLI must say so and fail
        return dataclasses.replace(real(*args, **kwargs), empirical_epsilon=9.0, verdict="VIOLATED")

    monkeypatch.setattr(_app, "audit_privacy", broken)
    data = tmp_path / "chain.csv"
    _chain(600).to_csv(data, index=False)
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(data), "--epsilon", "1", "--canaries", "20"])
    assert exc.value.code == _app.AUDIT_VIOLATED
