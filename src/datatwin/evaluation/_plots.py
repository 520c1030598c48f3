"""Plots for the report, drawn with matplotlib's object API on the Agg canvas (no pyplot, so no
global backend is touched) and embedded as base64 PNG."""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from typing import Any

import numpy as np

REAL = "#1f4e79"
SYN = "#e07b39"
DIFF_CMAP = "Reds"
DPI = 96


def _matplotlib():
    if "MPLCONFIGDIR" not in os.environ:
        # matplotlib writes a font cache; keep it out of the user's home
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="datatwin-mpl-")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the HTML report draws its plots with matplotlib: pip install matplotlib") from None
    return Figure, FigureCanvasAgg


def _figure(w: float, h: float, layout: str | None = "constrained"):
    Figure, Canvas = _matplotlib()
    fig = Figure(figsize=(w, h), dpi=DPI, layout=layout)
    Canvas(fig)
    fig.patch.set_facecolor("white")
    return fig


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def _date_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(x: float, _pos: Any) -> str:
        if not math.isfinite(x):
            return ""
        return str(np.datetime64(int(x), "s").astype("datetime64[D]"))

    return FuncFormatter(fmt)


def _short(label: str, n: int = 18) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def column_plot(name: str, h: dict[str, Any], score: float | None) -> str:
    fig = _figure(3.6, 2.5, layout=None)  # fixed margins: a layout engine doubles the drawing time
    fig.subplots_adjust(left=0.36 if h["type"] != "numeric" else 0.17, right=0.97, top=0.89, bottom=0.17)
    ax = fig.add_subplot(111)
    _style(ax)
    if h["type"] == "numeric":
        edges = np.asarray(h["edges"])
        ax.stairs(h["real"], edges, fill=True, color=REAL, alpha=0.35, label="real")
        ax.stairs(h["real"], edges, color=REAL, linewidth=1.2)
        ax.stairs(h["synthetic"], edges, color=SYN, linewidth=1.6, label="synthetic")
        ax.set_ylabel("share of rows", fontsize=8)
        if h.get("kind") == "datetime":
            ax.xaxis.set_major_formatter(_date_formatter())
            ax.xaxis.set_major_locator(_max_ticks(4))
    else:
        labels = [_short(x) for x in h["labels"]]
        y = np.arange(len(labels))
        ax.barh(y - 0.2, h["real"], height=0.4, color=REAL, label="real")
        ax.barh(y + 0.2, h["synthetic"], height=0.4, color=SYN, label="synthetic")
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows", fontsize=8)
    title = name if score is None else f"{name}  (similarity {score:.2f})"
    ax.set_title(_short(title, 44), fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _max_ticks(n: int):
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(n)


def shapes_plot(rows: list[dict[str, Any]]) -> str:
    rows = [r for r in rows if r["score"] is not None]
    rows.sort(key=lambda r: r["score"])
    h = max(1.6, 0.22 * len(rows) + 0.8)
    fig = _figure(6.0, h)
    ax = fig.add_subplot(111)
    _style(ax)
    y = np.arange(len(rows))
    colors = [_status_color(r["score"], 0.9, 0.8) for r in rows]
    ax.barh(y, [r["score"] for r in rows], color=colors)
    ax.set_yticks(y, [_short(r["column"], 24) for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.axvline(0.9, color="#777", linestyle=":", linewidth=1)
    ax.set_xlabel("similarity of the column's distribution (1 = identical)", fontsize=8)
    return _png(fig)


def _status_color(x: float, good: float, ok: float) -> str:
    return "#2e7d32" if x >= good else "#f9a825" if x >= ok else "#c62828"


def heatmaps(assoc: dict[str, Any]) -> str | None:
    cols = assoc["columns"]
    if len(cols) < 2:
        return None
    real = np.array(assoc["real"], dtype=float)
    syn = np.array(assoc["synthetic"], dtype=float)
    diff = np.array(assoc["difference"], dtype=float)
    k = len(cols)
    size = min(max(3.2, 0.26 * k + 1.4), 7.0)
    fig = _figure(size * 3 + 0.8, size + 0.4)
    labels = [_short(c, 16) for c in cols]
    fs = 7 if k <= 20 else 5
    for i, (m, title, cmap, lim) in enumerate(((real, "real", "RdBu_r", (-1, 1)), (syn, "synthetic", "RdBu_r", (-1, 1)),
                                                (diff, "|real − synthetic|", DIFF_CMAP, (0, 1)))):
        ax = fig.add_subplot(1, 3, i + 1)
        im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=lim[0], vmax=lim[1])
        ax.set_xticks(range(k), labels, rotation=90, fontsize=fs)
        ax.set_yticks(range(k), labels if i == 0 else [""] * k, fontsize=fs)
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    return _png(fig)


def utility_plot(util: dict[str, Any]) -> str | None:
    if "trtr" not in util:
        return None
    metrics = [m for m in ("roc_auc", "accuracy", "f1_macro", "r2") if m in util["trtr"]]
    names = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "f1_macro": "macro F1", "r2": "R²"}
    fig = _figure(1.3 * len(metrics) + 1.8, 2.6)
    ax = fig.add_subplot(111)
    _style(ax)
    x = np.arange(len(metrics))
    trtr = [util["trtr"][m] for m in metrics]
    tstr = [util["tstr"][m] for m in metrics]
    b1 = ax.bar(x - 0.2, trtr, width=0.4, color=REAL, label="trained on real (TRTR)")
    b2 = ax.bar(x + 0.2, tstr, width=0.4, color=SYN, label="trained on synthetic (TSTR)")
    for bars in (b1, b2):
        for b in bars:
            ax.annotate(f"{b.get_height():.3f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [names[m] for m in metrics], fontsize=8)
    lo = min(0.0, min(trtr + tstr))
    ax.set_ylim(lo, 1.12)
    ax.axhline(0, color="#999", linewidth=0.6)
    ax.set_ylabel("score on the real holdout", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper center", ncol=2, bbox_to_anchor=(0.5, -0.12))
    return _png(fig)


def importance_plot(fi: dict[str, Any], xlabel: str) -> str | None:
    rows = fi.get("columns", [])[:15]
    if not rows:
        return None
    fig = _figure(5.2, 0.24 * len(rows) + 0.9)
    ax = fig.add_subplot(111)
    _style(ax)
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r["real_importance"] for r in rows], height=0.4, color=REAL, label="model trained on real")
    ax.barh(y + 0.2, [r["synthetic_importance"] for r in rows], height=0.4, color=SYN,
            label="model trained on synthetic")
    ax.set_yticks(y, [_short(r["column"], 22) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="#999", linewidth=0.6)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def dcr_plot(hist: dict[str, Any]) -> str:
    fig = _figure(5.2, 2.6)
    ax = fig.add_subplot(111)
    _style(ax)
    edges = np.asarray(hist["edges"])
    ax.stairs(hist["holdout"], edges, fill=True, color=REAL, alpha=0.35, label="to the closest unseen real row")
    ax.stairs(hist["train"], edges, color=SYN, linewidth=1.6, label="to the closest training row")
    ax.set_xlabel("distance from a synthetic row", fontsize=8)
    ax.set_ylabel("share of synthetic rows", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)
