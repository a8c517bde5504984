"""Memory pages of the paper's figures (Figs. 1-4, 7-10) from a run's arrays.

Plotting only: :func:`draw_pages` takes the memories ``W``, their weight table and each
memory's class, orders them by class and draws pages with
:func:`saddlepoint.figures.memory_pages.memory_pages` (images in a diverging colour map
symmetric about zero, the class or group weights under each page).
"""

from pathlib import Path

import numpy as np

__all__ = ["draw_pages", "class_order"]


def class_order(classes, table):
    """Memories sorted by class, then by decreasing weight on their dominant table row."""
    classes = np.asarray(classes)
    table = np.asarray(table)
    top = table[np.arange(table.shape[0]), np.argmax(table, axis=1)]
    return np.lexsort((-top, classes))


def draw_pages(run, prefix, image_shape, per_page=25, title=None, row_labels=None, table_label="class weight",
               shown=None, order=None):
    """Pages ``{prefix}_1.png, ...`` of the memories of ``run`` (keys ``W``, ``table``, and
    ``classes`` to sort by; without it the dominant table row is used).

    ``shown``: draw only this many memories, evenly spaced along the sorted order (so that
    every class appears on a page of a large DAM); ``order``: draw exactly these memories
    (indices, in page order) instead. Returns the file names (relative to the folder of
    ``prefix``).
    """
    from .memory_pages import memory_pages

    W, table = np.asarray(run["W"]), np.asarray(run["table"])
    if row_labels is None:
        row_labels = [str(c) for c in range(table.shape[1] - 1)] + ["none"]
    classes = run["classes"] if "classes" in run else np.argmax(table, axis=1)
    if order is None:
        order = class_order(classes, table)
    else:
        order = np.asarray(order, dtype=np.intp)
    if shown is not None and int(shown) < order.size:
        order = order[np.linspace(0, order.size - 1, int(shown)).round().astype(np.intp)]
    paths = memory_pages(W, table, image_shape, row_labels, order=order, per_page=int(per_page),
                         out_prefix=str(prefix), title=title, table_label=table_label)
    return [Path(p).name for p in paths]
