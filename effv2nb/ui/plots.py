"""Plots shared by notebooks and widgets."""
from __future__ import annotations

import matplotlib.pyplot as plt

BAR_COLOR = "#3b75af"          # the top-5 bars (the browser test counts these pixels in its screenshot)


def top5_chart(predictions, title: str = "", warning: str = "", ax=None):
    """Horizontal bar chart of top-k predictions, best on top; returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 2.4))
    else:
        fig = ax.figure
    labels = [p.label if len(p.label) < 32 else p.label[:29] + "..." for p in predictions][::-1]
    probs = [p.prob * 100 for p in predictions][::-1]
    bars = ax.barh(range(len(probs)), probs, color=BAR_COLOR)
    ax.set_yticks(range(len(probs)), labels)
    ax.set_xlim(0, 100)
    ax.set_xlabel("probability (%)")
    ax.bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
    head = f"{title}\n{warning}" if warning else title
    ax.set_title(head, fontsize=9, color="#b00020" if warning else "black")
    fig.tight_layout()
    return fig
