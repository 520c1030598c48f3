"""The command line: happy paths end to end, and every bad input as one line + exit status 1."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import datatwin
from helpers import run_cli as cli


@pytest.fixture
def data_csv(tmp_path, mixed_df):
    path = tmp_path / "data.csv"
    mixed_df.to_csv(path, index=False)
    return path


def test_inspect_fit_sample_synth(tmp_path, data_csv, capsys):
    assert cli("inspect", str(data_csv), "--json", str(tmp_path / "meta.json")) == 0
    shown = capsys.readouterr().out
    assert "categorical" in shown and "Why each kind" in shown and "signup: datetime, 95%+ of the values parse" in shown
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["columns"]["signup"]["kind"] == "datetime"
    model = tmp_path / "m.dtw"
    assert cli("fit", str(data_csv), "-o", str(model), "--metadata", str(tmp_path / "meta.json"),
               "--engine", "copula", "--seed", "3") == 0
    out = tmp_path / "out.parquet"
    assert cli("sample", str(model), "-n", "2500", "-o", str(out), "--chunk-size", "1000") == 0
    df = pd.read_parquet(out)
    assert len(df) == 2500 and list(df.columns) == list(pd.read_csv(data_csv).columns)
    out_csv = tmp_path / "out.csv"
    assert cli("synth", str(data_csv), "-n", "300", "-o", str(out_csv), "--engine", "copula") == 0
    assert len(pd.read_csv(out_csv)) == 300


def test_sample_is_seeded(tmp_path, data_csv):
    model = tmp_path / "m.dtw"
    cli("fit", str(data_csv), "-o", str(model), "--engine", "copula")
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        cli("sample", str(model), "-n", "200", "-o", str(tmp_path / f"{name}.csv"), "--seed", seed)
    a, b, c = ((tmp_path / f"{x}.csv").read_bytes() for x in "abc")
    assert a == b and a != c


def _bad(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


@pytest.mark.parametrize(("make_input", "message"), [
    (lambda t: t / "missing.csv", "does not exist"),
    (lambda t: _bad(t, "empty.csv", ""), "is empty"),
    (lambda t: _bad(t, "header.csv", "a,b,c\n"), "header but no data rows"),
    (lambda t: _bad(t, "ragged.csv", "a,b\n1,2\n3,4,5\n6,7\n"), "ragged rows"),
    (lambda t: _bad(t, "dupes.csv", "a,a\n1,2\n3,4\n"), "duplicate column names"),
    (lambda t: _bad(t, "bin.csv", b"a,b\n\x81\x8d\x8f,\x90\n", "wb"), "not UTF-8"),
    (lambda t: _bad(t, "allmissing.csv", "a,b\n1,\n2,\n3,\n"), "entirely missing"),
    (lambda t: _bad(t, "one.csv", "a,b\n1,2\n"), "at least 2 rows"),
])
def test_bad_input_files(tmp_path, capsys, make_input, message):
    model = tmp_path / "m.dtw"
    assert cli("fit", str(make_input(tmp_path)), "-o", str(model)) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not model.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.dtw")]


def test_latin1_csv_is_read(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(b"city,n\n" + "Zürich,1\nMálaga,2\n".encode("cp1252") * 5)
    assert cli("fit", str(p), "-o", str(tmp_path / "m.dtw"), "--engine", "copula") == 0


def test_bad_arguments(tmp_path, data_csv, capsys):
    model = tmp_path / "m.dtw"
    cli("fit", str(data_csv), "-o", str(model), "--engine", "copula")
    capsys.readouterr()
    cases = [
        (("sample", str(model), "-n", "0", "-o", str(tmp_path / "x.csv")), "positive number of rows"),
        (("sample", str(model), "-n", "-5", "-o", str(tmp_path / "x.csv")), "positive number of rows"),
        (("sample", str(model), "-n", "5", "-o", str(tmp_path / "nodir" / "x.csv")), "does not exist"),
        (("sample", str(data_csv), "-n", "5", "-o", str(tmp_path / "x.csv")), "not a datatwin model file"),
        (("sample", str(model), "-n", "5", "-o", str(tmp_path / "x.json")), "must end in .csv or .parquet"),
        (("fit", str(data_csv), "-o", str(tmp_path / "nodir" / "m.dtw")), "does not exist"),
    ]
    for args, message in cases:
        assert cli(*args) == 1, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "x.csv").exists()


def test_unknown_column_in_metadata(tmp_path, data_csv, capsys):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"columns": {"nope": {"kind": "numeric"}}}))
    assert cli("fit", str(data_csv), "-o", str(tmp_path / "m.dtw"), "--metadata", str(meta)) == 1
    assert "['nope']" in capsys.readouterr().err


def test_usage_error_exit_code(capsys):
    assert cli("sample") == 2


def test_console_script_runs():
    res = subprocess.run([sys.executable, "-m", "datatwin", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "synth" in res.stdout


def test_sample_with_conditions(tmp_path, data_csv, capsys):
    model = tmp_path / "m.dtw"
    assert cli("fit", str(data_csv), "-o", str(model), "--seed", "1") == 0
    out = tmp_path / "cond.csv"
    assert cli("sample", str(model), "-n", "400", "-o", str(out), "--where", "plan=gold|plus",
               "--where", "age=30..45", "--rebalance", "active=True:0.8") == 0
    df = pd.read_csv(out)
    assert set(df["plan"]) <= {"gold", "plus"} and df["age"].between(30, 45).all()
    assert cli("sample", str(model), "-n", "5", "-o", str(tmp_path / "bad.csv"), "--where", "plan=diamond") == 1
    assert "no value 'diamond'" in capsys.readouterr().err
    assert not (tmp_path / "bad.csv").exists()


def test_outputs_get_normal_permissions(tmp_path, data_csv):
    model = tmp_path / "m.dtw"
    cli("fit", str(data_csv), "-o", str(model), "--engine", "copula")
    assert model.stat().st_mode & 0o644 == 0o644


def test_evaluate_and_synth_report_draw_evaluation_progress(tmp_path, data_csv, mixed_df, monkeypatch):
    import io

    from rich.console import Console

    import datatwin.cli as cli_module

    screen = io.StringIO()  # a terminal, so that the progress bars are drawn
    monkeypatch.setattr(cli_module, "err", Console(file=screen, force_terminal=True, width=160))
    real, syn = tmp_path / "real.csv", tmp_path / "syn.csv"
    mixed_df.iloc[:200].to_csv(real, index=False)
    mixed_df.iloc[200:].to_csv(syn, index=False)
    assert cli("evaluate", "--real", str(real), "--synthetic", str(syn), "-o", str(tmp_path / "r.html")) == 0
    drawn = screen.getvalue()
    for label in ("preparing", "fidelity", "detection", "ML utility", "insights", "privacy"):
        assert f"evaluating: {label}" in drawn
    assert "skipped" in drawn  # no target: utility and insights measured nothing
    screen.seek(0)
    screen.truncate()
    assert cli("synth", str(data_csv), "-n", "300", "-o", str(tmp_path / "o.csv"), "--engine", "copula",
               "--report", str(tmp_path / "s.html"), "--target", "plan") == 0
    drawn = screen.getvalue()
    assert "training" in drawn and "sampling (rows)" in drawn and "evaluating: privacy" in drawn
    assert (tmp_path / "s.html").exists()


def test_defaults_are_the_api_defaults():
    """Each command's default is the one of the API parameter it feeds, never a second copy."""
    import inspect

    import typer

    import datatwin
    from datatwin.cli import app

    def api(func):
        return {k: p.default for k, p in inspect.signature(func).parameters.items() if p.default is not p.empty}

    def cli_defaults(command):
        return {p.name: p.default for p in typer.main.get_command(app).commands[command].params}

    synthesizer = api(datatwin.Synthesizer.__init__)
    for command in ("fit", "synth"):
        got = cli_defaults(command)
        assert {k: got[k] for k in ("engine", "max_training_time", "locale")} == {
            k: synthesizer[k] for k in ("engine", "max_training_time", "locale")}
        assert got["seed"] == synthesizer["random_state"]
    sample_to_file = api(datatwin.Synthesizer.sample_to_file)
    assert cli_defaults("sample")["chunk_size"] == cli_defaults("synth")["chunk_size"] == sample_to_file["chunk_size"]
    generate = api(datatwin.generate_to_file)
    assert {k: cli_defaults("generate")[k] for k in ("seed", "chunk_size")} == {
        k: generate[k] for k in ("seed", "chunk_size")}
    evaluate = api(datatwin.evaluate)
    assert (cli_defaults("evaluate")["seed"], cli_defaults("evaluate")["max_rows"]) == (
        evaluate["random_state"], evaluate["max_rows"])
    augment = api(datatwin.augment)
    assert (cli_defaults("augment")["seed"], cli_defaults("augment")["ratio"]) == (augment["seed"], augment["ratio"])


def test_csv_outputs_escape_formula_cells_and_keep_plain_numbers(tmp_path):
    df = pd.DataFrame({"note": ["=HYPERLINK(\"http://x\")", "+44 20 7946 0000", "@SUM(A1)", "-5", "fine"] * 20,
                       "amount": [-1.5, 2.0, 3.0, -4.0, 5.0] * 20})
    path = tmp_path / "out.csv"
    datatwin.write_table(df, path)
    back = pd.read_csv(path, dtype={"note": str})
    assert back["note"].iloc[:5].tolist() == ["'=HYPERLINK(\"http://x\")", "'+44 20 7946 0000", "'@SUM(A1)", "-5",
                                              "fine"]
    assert back["amount"].equals(df["amount"])  # numbers are data, never escaped
    datatwin.write_table(df, path, escape_formulas=False)
    assert pd.read_csv(path, dtype={"note": str})["note"].equals(df["note"])


@pytest.mark.parametrize("how", ["same path", "hard link", "symlink to it"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, data_csv, capsys, how):
    before = data_csv.read_bytes()
    out = data_csv
    if how == "hard link":
        out = tmp_path / "link.csv"
        os.link(data_csv, out)
    elif how == "symlink to it":
        out = tmp_path / "sym.csv"
        out.symlink_to(data_csv)
    model = tmp_path / "m.dtw"
    assert cli("synth", str(data_csv), "-n", "10", "-o", str(out), "--engine", "copula") == 1
    err = capsys.readouterr().err
    assert ("is the input" in err or "symbolic link" in err) and "Traceback" not in err
    assert data_csv.read_bytes() == before
    assert cli("fit", str(data_csv), "-o", str(data_csv), "--engine", "copula") == 1
    assert data_csv.read_bytes() == before and not model.exists()


def test_outputs_that_collide_or_are_special_files_are_refused(tmp_path, data_csv, capsys):
    out = tmp_path / "out.csv"
    assert cli("synth", str(data_csv), "-n", "10", "-o", str(out), "--model", str(out), "--engine", "copula") == 1
    assert "twice" in capsys.readouterr().err and not out.exists()
    if os.path.exists("/dev/null"):
        assert cli("inspect", str(data_csv), "--json", "/dev/null") == 1
        assert "not a regular file" in capsys.readouterr().err


def test_sigterm_during_sample_exits_130_and_leaves_no_file(tmp_path, data_csv):
    import signal
    import time

    model = tmp_path / "m.dtw"
    assert cli("fit", str(data_csv), "-o", str(model), "--engine", "copula") == 0
    out = tmp_path / "big.csv"
    proc = subprocess.Popen([sys.executable, "-m", "datatwin", "sample", str(model), "-n", "50000000", "-o",
                             str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".big.csv.*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # wait until it is writing its temporary file
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".big.csv.*"))


def test_a_fit_interrupted_in_its_first_epoch_writes_no_model(tmp_path, mixed_df, monkeypatch):
    import datatwin.cli._app as app_module

    syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 1}).fit(mixed_df)
    monkeypatch.setattr(syn.engine_, "interrupted_", True)
    monkeypatch.setattr(syn.engine_, "history_", [])
    with pytest.raises(SystemExit) as exc:
        app_module._keep_if_learned(syn)
    assert exc.value.code == 130
