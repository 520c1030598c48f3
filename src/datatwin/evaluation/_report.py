"""The self-contained HTML report: a Jinja2 template packaged with datatwin, plots inlined as
base64 PNG, no script, no external stylesheet, font or image (it opens offline)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _plots
from ._verdicts import METRIC_NAMES, SECTIONS, delta_status, worst

MAX_COLUMN_PLOTS = 40
STATUS_WORD = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "NOT MEASURED"}

QUESTIONS = (
    ("Is it statistically faithful?", ("fidelity", "detection"),
     {"pass": "Yes: distributions and relationships match the real data, and a classifier can hardly tell "
              "the two apart.",
      "warn": "Mostly: some distributions or relationships drift; see the warnings below.",
      "fail": "No: the synthetic data differs clearly from the real data; see the failures below.",
      "skip": "Not measured."}),
    ("Is it as useful for analysis and machine learning?", ("utility", "insights"),
     {"pass": "Yes: models and analyses built on it reach the same results as on the real data.",
      "warn": "Partly: some results change; see the warnings below.",
      "fail": "No: models or analyses built on it reach different results; see the failures below.",
      "skip": "Not measured: give a target column (and a holdout for the models)."}),
    ("Does it protect the real people?", ("privacy",),
     {"pass": "Yes: no copies of real rows, no closeness to the training rows, and a membership attack fails.",
      "warn": "Mostly: some signs of closeness to the training rows; see the warnings below.",
      "fail": "No: the synthetic data copies or sits on real training rows; see the failures below.",
      "skip": "Not measured."}),
)

OVERALL = {
    "pass": "The synthetic data passes every check that was measured.",
    "warn": "The synthetic data passes the failing-grade checks, with warnings worth a look.",
    "fail": "The synthetic data fails at least one check; the red lines below say which and why.",
    "skip": "Nothing could be measured.",
}


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    return f"{x:.{digits}f}"


def _pct(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{100 * x:.{digits}f}%"


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _value(x: Any, kind: str) -> str:
    if x is None:
        return "–"
    if kind == "datetime":
        try:
            return str(np.datetime64(int(round(x)), "s")).replace("T00:00:00", "").replace("T", " ")
        except (ValueError, OverflowError):
            return "–"
    ax = abs(x)
    if ax != 0 and (ax >= 1e6 or ax < 1e-3):
        return f"{x:.3g}"
    return f"{x:,.3f}".rstrip("0").rstrip(".") if ax < 1000 else f"{x:,.1f}"


def _view(data: dict[str, Any]) -> dict[str, Any]:
    s = data["summary"]
    fid, det, util, ins, priv = (data[k] for k in ("fidelity", "detection", "utility", "insights", "privacy"))
    d = data["data"]
    verdicts = data["verdicts"]
    sections = s["sections"]

    questions = []
    for q, secs, answers in QUESTIONS:
        st = worst([sections[x] for x in secs])
        questions.append({"question": q, "status": st, "word": STATUS_WORD[st], "answer": answers[st]})

    groups = []
    for key, title in SECTIONS.items():
        vs = [v for v in verdicts if v["section"] == key]
        if vs:
            groups.append({"title": title, "verdicts": vs})

    key_figs = [
        ("Quality (SDMetrics definition)", _num(s.get("quality")),
         "mean of column shapes and pair trends; 1 = identical"),
        ("Column shapes", _num(s.get("column_shapes")), "how alike each column's distribution is"),
        ("Pair trends", _num(s.get("pair_trends")),
         f"over the {s.get('pairs_counted', 0)} strongly related pairs; "
         f"all pairs: {_num(s.get('pair_trends_all_pairs'))}"),
        ("Detection ROC AUC", _num(s.get("detection_auc")), "0.5 = a classifier cannot tell real from synthetic"),
    ]
    if s.get("tstr") is not None:
        m = METRIC_NAMES[s["utility_metric"]]
        key_figs.append((f"TSTR {m} (TRTR)", f"{_num(s['tstr'])} ({_num(s['trtr'])})",
                         f"difference {s['tstr_delta']:+.3f}; band ±{d['pass_band']:g}"))
    if s.get("insights_hold_share") is not None:
        key_figs.append(("Conclusions that hold", _pct(s["insights_hold_share"], 0),
                         "group figures and regression effects"))
    key_figs.append(("Exact copies of training rows", _pct(s.get("exact_copy_rate"), 2),
                     f"baseline {_pct(s.get('exact_copy_baseline'), 2)}"))
    if s.get("dcr_share") is not None:
        key_figs.append(("DCR share", _num(s["dcr_share"]), "0.5 = no closer to training rows than to unseen rows"))
        key_figs.append(("Membership attack ROC AUC", _num(s["mia_auc"]), "0.5 = the attack learns nothing"))

    # ------------------------------------------------------------------ plots
    shapes = fid["column_shapes"]["columns"]
    score_of = {r["column"]: r["score"] for r in shapes}
    hist = fid["histograms"]
    names = list(hist)
    if len(names) > MAX_COLUMN_PLOTS:
        names = sorted(names, key=lambda c: _or(score_of.get(c), 1.0))[:MAX_COLUMN_PLOTS]
        names = [c for c in hist if c in set(names)]
    plots = {
        "shapes": _plots.shapes_plot(shapes) if shapes else None,
        "columns": [{"name": c, "png": _plots.column_plot(c, hist[c], score_of.get(c))} for c in names],
        "columns_left_out": len(hist) - len(names),
        "heatmaps": _plots.heatmaps(fid["associations"]),
        "utility": _plots.utility_plot(util) if "trtr" in util else None,
        "importance": (_plots.importance_plot(util["feature_importance"],
                                              "score lost on the holdout when the column is shuffled")
                       if util.get("feature_importance") else None),
        "dcr": _plots.dcr_plot(priv["distances"]["dcr_histogram"]) if priv.get("distances") else None,
    }

    # ------------------------------------------------------------------ tables
    kinds = d["kinds"]
    stats_num, stats_cat = [], []
    for row in fid["summary_statistics"]:
        kind = row["kind"]
        if kind in ("numeric", "datetime"):
            for side in ("real", "synthetic"):
                v = row.get(side)
                cells = ([_value(v[k], kind) for k in ("mean", "std", "min", "q05", "q25", "q50", "q75", "q95", "max")]
                         if v else ["–"] * 9)
                if v and kind == "datetime":
                    cells[1] = f"{v['std'] / 86400:,.1f} days"
                stats_num.append({"column": row["column"], "side": side, "cells": cells, "first": side == "real"})
        else:
            r, sy = row.get("real") or {}, row.get("synthetic") or {}
            stats_cat.append({"column": row["column"], "levels": f"{r.get('levels', 0)} / {sy.get('levels', 0)}",
                              "real_top": ", ".join(f"{lv} {_pct(p)}" for lv, p in r.get("top", [])),
                              "syn_top": ", ".join(f"{lv} {_pct(p)}" for lv, p in sy.get("top", []))})
    pairs = fid["pair_trends"]["pairs"]
    counted = [p for p in pairs if p["meets_threshold"]]
    counted.sort(key=lambda p: p["score"] if p["score"] is not None else 2)
    worst_all = sorted((p for p in pairs if p["score_all"] is not None), key=lambda p: p["score_all"])[:15]

    util_rows = []
    if "trtr" in util:
        for m in util["trtr"]:
            st, short = delta_status(m, util["trtr"][m], util["tstr"][m], d["pass_band"],
                                     (util.get("delta_se") or {}).get(m))
            util_rows.append({"metric": METRIC_NAMES[m], "trtr": _num(util["trtr"][m]), "tstr": _num(util["tstr"][m]),
                              "delta": f"{util['delta'][m]:+.3f}", "status": st,
                              "note": "lower is better; compared relative to TRTR" if m == "mae" else ""})

    coverage = []
    for r in fid["coverage"]:
        if "category_coverage" in r:
            coverage.append({"column": r["column"], "what": "categories",
                             "coverage": f"{r['real_categories']} real, {r['synthetic_categories']} synthetic; "
                                         f"{_pct(r['category_coverage'])} of real categories appear",
                             "covered": _pct(r["real_share_covered"]),
                             "outside": (_pct(r["synthetic_share_new_categories"])
                                         + " in categories the real data lacks")})
        else:
            coverage.append({"column": r["column"], "what": "range",
                             "coverage": f"{_pct(r.get('range_coverage'))} of the real range",
                             "covered": _pct(r.get("real_share_covered")),
                             "outside": _pct(r.get("synthetic_share_outside_real_range")) + " outside the real range"})

    rows_line = ", ".join(f"{k} {d['rows_used'][k]:,}" + (f" of {d['rows_given'][k]:,}"
                                                          if d["rows_used"][k] < d["rows_given"][k] else "")
                          for k in d["rows_used"])
    return {
        "data": data, "s": s, "d": d, "kinds": kinds, "overall": s["overall"],
        "overall_word": STATUS_WORD[s["overall"]],
        "overall_text": OVERALL[s["overall"]], "questions": questions, "groups": groups, "key_figs": key_figs,
        "plots": plots, "shapes": shapes, "stats_num": stats_num, "stats_cat": stats_cat, "counted_pairs": counted,
        "worst_pairs": worst_all, "missing": fid["missing_values"], "coverage": coverage, "det": det, "util": util,
        "util_rows": util_rows, "ins": ins, "priv": priv, "rows_line": rows_line, "notes": data.get("notes", []),
        "timings": data.get("timings", {}), "guarantee": data.get("guarantee"),
    }


def render_html(data: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("datatwin.evaluation", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["signed"] = lambda x: "–" if x is None else f"{x:+.3f}"
    env.filters["word"] = lambda st: STATUS_WORD.get(st, st)
    return env.get_template("report.html.j2").render(**_view(data))
