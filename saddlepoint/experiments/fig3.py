"""Fig. 3: the effective loss, P = 2000 memories, beta learned from 1 under varsigma = 0.25.

One run of the paper protocol; the figure is memory pages sorted by class, and the numbers
are the test accuracy, the 1-NN score (class of the most correlated memory) and its fidelity
to the DAM's own prediction (overall, on correct and on wrong examples).
"""

from ..figures.paper_pages import draw_pages
from .protocol import supervised_job

__all__ = ["MODULE", "ITEMS", "jobs", "assemble"]

MODULE = "fig3"
ITEMS = ("fig3",)


def jobs(ctx):
    return [supervised_job(ctx, "fig3/run")]


def assemble(item, ctx, results):
    r, _ = results["fig3/run"]
    v = ctx.values
    files = draw_pages(r, ctx.out / "fig3", ctx.image_shape, per_page=v["page_size"], shown=v["shown"],
                       title=f"Fig. 3: P = {v['P']}, beta learned ({v['beta']:g} -> {r['beta']:.3g}), "
                             f"test acc {r['test_accuracy']:.3f}, 1-NN {r['nn_accuracy']:.3f}")
    keys = ("test_accuracy", "nn_accuracy", "nn_fidelity", "nn_fidelity_correct", "nn_fidelity_wrong", "beta",
            "epochs", "stopped_early")
    return dict(files=files, numbers={k: r[k] for k in keys})
