"""The self-contained HTML report of a database or sequence-table evaluation: the same look and
rules as the single-table report (one template, plots inlined as base64 PNG, nothing external)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _plots
from ._report import (
    STATUS_WORD,
    _num,  # the same number format as the single-table report
)

# The report's sections, in order (the evaluation groups its verdicts by them).
SECTIONS = {
    "keys": "Keys",
    "cardinality": "Children per parent",
    "tables": "Each table",
    "trends": "Parent-to-child trends",
    "detection": "Child with its parent: real or synthetic?",
    "sequences": "Sequences",
}

MAX_PLOTS = 24

OVERALL = {
    "pass": "The synthetic database passes every check that was measured.",
    "warn": "The synthetic database passes the failing-grade checks, with warnings worth a look.",
    "fail": "The synthetic database fails at least one check; the red lines below say which and why.",
    "skip": "Nothing could be measured.",
}


def _counts_plot(name: str, h: dict[str, Any], score: float | None) -> str:
    fig = _plots._figure(3.6, 2.5, layout=None)
    fig.subplots_adjust(left=0.17, right=0.97, top=0.86, bottom=0.19)
    ax = fig.add_subplot(111)
    _plots._style(ax)
    r, s = np.asarray(h["real"], float), np.asarray(h["synthetic"], float)
    r, s = r / max(1.0, r.sum()), s / max(1.0, s.sum())
    edges = np.asarray(h["bins"], float) - 0.5
    ax.stairs(r, edges, fill=True, color=_plots.REAL, alpha=0.35, label="real")
    ax.stairs(r, edges, color=_plots.REAL, linewidth=1.2)
    ax.stairs(s, edges, color=_plots.SYN, linewidth=1.6, label="synthetic")
    ax.set_xlabel("children per parent (last bin: that many or more)", fontsize=8)
    ax.set_ylabel("share of parents", fontsize=8)
    title = name if score is None else f"{name}  (1 - KS {score:.2f})"
    ax.set_title(_plots._short(title, 48), fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return _plots._png(fig)


def _acf_plot(table: str, acf: dict[str, Any]) -> str | None:
    cols = list(acf)[:8]
    if not cols:
        return None
    fig = _plots._figure(6.4, 0.5 + 0.45 * len(cols) * 1.0 + 1.0, layout=None)
    fig.subplots_adjust(left=0.25, right=0.97, top=0.9, bottom=0.14)
    ax = fig.add_subplot(111)
    _plots._style(ax)
    y = np.arange(len(cols))
    r = [acf[c]["1"]["real_mean"] for c in cols]
    s = [acf[c]["1"]["synthetic_mean"] for c in cols]
    ax.barh(y - 0.2, [0 if v is None else v for v in r], height=0.4, color=_plots.REAL, label="real")
    ax.barh(y + 0.2, [0 if v is None else v for v in s], height=0.4, color=_plots.SYN, label="synthetic")
    ax.set_yticks(y, [_plots._short(c, 24) for c in cols], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.set_xlabel("mean lag-1 autocorrelation per entity", fontsize=8)
    ax.set_title(f"{table}: persistence of each column", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return _plots._png(fig)


def _view(data: dict[str, Any]) -> dict[str, Any]:
    s, fig, ref = data["summary"], data["figures"], data.get("reference")
    groups = []
    for key, title in SECTIONS.items():
        vs = [v for v in data["verdicts"] if v["section"] == key]
        if vs:
            groups.append({"title": title, "status": s["sections"].get(key, "skip"), "verdicts": vs})
    ref_card = {r["fk"]: r["score"] for r in (ref or {}).get("cardinality", [])}
    cardinality = [{"fk": r["fk"], "score": _num(r["score"]), "ref": _num(ref_card.get(r["fk"])),
                    "real_mean": _num(r["real"].get("mean"), 2), "syn_mean": _num(r["synthetic"].get("mean"), 2),
                    "real_p90": _num(r["real"].get("p90"), 0), "syn_p90": _num(r["synthetic"].get("p90"), 0),
                    "real_zero": _num(r["real"].get("share_zero"), 2),
                    "syn_zero": _num(r["synthetic"].get("share_zero"), 2)}
                   for r in fig["cardinality"]]
    ref_tab = (ref or {}).get("tables", {})
    tables = [{"table": t, "rows": f"{q['rows'][0]:,} / {q['rows'][1]:,}" if "rows" in q else "–",
               "quality": _num(q.get("quality")), "shapes": _num(q.get("column_shapes")),
               "pairs": _num(q.get("pair_trends")), "ref": _num(ref_tab.get(t, {}).get("quality")),
               "note": q.get("skipped", "")} for t, q in fig["tables"].items()]
    trends = sorted(fig["trends"], key=lambda r: r["score"])[:30]
    trends = [{**r, "real_s": _num(r["real"], 2), "syn_s": _num(r["synthetic"], 2), "score_s": _num(r["score"])}
              for r in trends]
    ref_det = (ref or {}).get("detection", {})
    detection = [{"fk": k, "auc": _num(d.get("auc")), "ref": _num(ref_det.get(k, {}).get("auc")),
                  "groups": _num(d.get("groups")), "rows": _num(d.get("rows_per_class")), "note": d.get("skipped", "")}
                 for k, d in fig["detection"].items()]
    seqs = []
    for t, q in fig["sequences"].items():
        rq = (ref or {}).get("sequences", {}).get(t, {})
        lags = [{"column": c, **{f"d{k}": _num(v[k]["distance"]) for k in v},
                 **{f"r{k}": _num(v[k]["real_mean"], 2) for k in v}, **{f"s{k}": _num(v[k]["synthetic_mean"], 2)
                                                                       for k in v}}
                for c, v in q["acf"].items()]
        steps = [{"column": c, "score": _num(v["score"]), "real": _num(v["real"].get("p50"), 3),
                  "syn": _num(v["synthetic"].get("p50"), 3)} for c, v in q["steps"].items()]
        spread = [{"column": c, "mean": _num(v["mean_score"]), "std": _num(v["std_score"])}
                  for c, v in q["spread"].items()]
        seqs.append({"table": t, "entities": f"{q['entities'][0]:,} / {q['entities'][1]:,}",
                     "length": _num(q["length"]["score"]), "length_ref": _num(rq.get("length", {}).get("score")),
                     "len_real": _num(q["length"]["real"].get("mean"), 1),
                     "len_syn": _num(q["length"]["synthetic"].get("mean"), 1),
                     "acf": _num(q["acf_distance_mean"]), "acf_ref": _num(rq.get("acf_distance_mean")),
                     "det": _num(q["detection_with_previous_row"].get("auc")),
                     "det_ref": _num(rq.get("detection_with_previous_row", {}).get("auc")),
                     "lags": lags, "steps": steps, "spread": spread, "plot": _acf_plot(t, q["acf"])})
    plots = [{"name": r["fk"], "png": _counts_plot(r["fk"], r["histogram"], r["score"])}
             for r in fig["cardinality"][:MAX_PLOTS]]
    rows_line = ", ".join(f"{t} {r[0]:,} real / {r[1]:,} synthetic" for t, r in s["rows"].items())
    return {"data": data, "s": s, "overall": s["overall"], "overall_word": STATUS_WORD[s["overall"]],
            "overall_text": OVERALL[s["overall"]], "groups": groups, "cardinality": cardinality, "tables": tables,
            "trends": trends, "detection": detection, "seqs": seqs, "plots": plots, "rows_line": rows_line,
            "holdout": data["data"]["holdout"], "schema": data["data"]["schema"]}


def render_database_html(data: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("datatwin.evaluation", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["word"] = lambda st: STATUS_WORD.get(st, st)
    return env.get_template("database.html.j2").render(**_view(data))
