"""Fig. 5 of the paper: the learning-dynamics tree, drawn from a 2-D embedding of memory states.

Plotting only (the embedding and the runs come from :mod:`saddlepoint.experiments.fig5`).
"""

import numpy as np

from . import save_figure

__all__ = ["plot_dynamics_tree", "NONE_COLOR"]

#: Colour of a memory whose largest class weight is on "none": black, outside the tab10
#: palette of the ten classes (tab10's grey is class 7).
NONE_COLOR = "black"


def _panel(ax, E, run, title):
    from matplotlib.collections import LineCollection

    parent = np.asarray(run["parent"])
    has = parent >= 0
    segs = np.stack([E[parent[has]], E[has]], axis=1)
    ax.add_collection(LineCollection(segs, colors="0.82", linewidths=0.3, zorder=1))
    cls = np.asarray(run["classes"])
    none = cls > 9  # the "none" column of the class table
    # "none" in black: outside tab10, whose grey is class 7
    # (not antialiased: a 2-pixel black dot would blend to the grey of class 7)
    ax.scatter(E[none, 0], E[none, 1], c=NONE_COLOR, s=3, linewidths=0, antialiased=False, zorder=2)
    sc = ax.scatter(E[~none, 0], E[~none, 1], c=cls[~none], cmap="tab10", vmin=-0.5, vmax=9.5, s=2, linewidths=0,
                    zorder=2)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return sc


def plot_dynamics_tree(E_full, full, E_split, split, path, title=None):
    """Two panels: (a) full width, (b) splitting mapped by the same embedding.

    ``E_*`` are (S, 2) embeddings of the recorded states; ``full``/``split`` carry ``parent``
    (index of the previous state of the trajectory, -1 at the start) and ``classes`` (0-9, or
    10 for "none", drawn in :data:`NONE_COLOR`, black, outside the class palette and named
    in a legend).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharex=True, sharey=True)
    _panel(axes[0], np.asarray(E_full), full, "(a) full width")
    sc = _panel(axes[1], np.asarray(E_split), split, "(b) splitting (same embedding)")
    cb = fig.colorbar(sc, ax=axes, ticks=range(10), fraction=0.03)
    cb.set_label("memory class", fontsize=8)
    from matplotlib.lines import Line2D

    axes[0].legend(handles=[Line2D([], [], ls="", marker="o", ms=4, color=NONE_COLOR,
                                   label='"none" (largest class weight on none)')],
                   loc="lower left", fontsize=7, frameon=True)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=120)
