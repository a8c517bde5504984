"""``DIR/README.md``: a caption per item saying what it shows and how the run differs from
the paper's (data size, scaled settings). Only numbers that a seed fixes are written here
(timings live in the manifest), so the file is byte-stable for a fixed seed."""

from pathlib import Path

from .settings import ITEM_NAMES

__all__ = ["CAPTIONS", "write_readme", "caption"]

CAPTIONS = {
    "fig1": "Memories of a supervised DAM with P = 25 at fixed beta = 16 (no effective loss), trained by the "
            "paper's protocol (momentum SGD, early stopping, null memory, label softening), as images in a "
            "diverging colour map symmetric about zero, sorted by class, above their class-weight heatmap "
            "(rows: the ten digits and \"none\").",
    "fig2": "Memory pages of supervised DAMs with P memories at fixed beta in {6, 10, 14, 18} (one page per beta, "
            "memories taken evenly along the class order).",
    "table1": "Test accuracy per beta at fixed beta (the paper's Table 1), beside the same runs with the effective "
              "loss (beta learned from the table's value under varsigma = 0.25) and our EM at fixed beta.",
    "fig3": "Memory pages of the effective-loss DAM (beta learned from 1 under varsigma = 0.25); numbers: test "
            "accuracy, 1-NN score (class of the most correlated memory) and its fidelity to the DAM's prediction.",
    "fig4": "Unsupervised DAM on 6 x 6 patches (stride 2) with 10 latent groups: one page of 25 memories taken "
            "evenly along the group order, above their group weights; numbers: memories per group.",
    "fig5": "Learning-dynamics tree: every memory state recorded after every epoch, as its overlaps with the "
            "training images, embedded in 2-D by UMAP fitted on (a) full-width training from the mean image and "
            "used to map (b) growth by splitting; points coloured by the memory's class at that epoch (black, "
            "outside the class colours: its largest class weight is on \"none\"), joined along trajectories (a "
            "copy to its parent).",
    "fig6": "Test accuracy and cost against P_max for growth by splitting and training at full width, with the "
            "paper's protocol and with our EM (closed-form beta step), mean +- sd over seeds, each run's time the "
            "minimum over repeats. fig6.png plots time normalised by splitting's mean at the largest P_max (its "
            "values vary from run to run; the fits are in the manifest); fig6_work.png plots the work in "
            "memory-epochs, fixed by the seed.",
}
for _i in range(4):
    CAPTIONS[f"fig{7 + _i}"] = (f"Unsupervised patch DAM (the run of Fig. 4): page {_i + 1} of 4 of the memories "
                                "sorted by latent group, 25 per page, above their group weights.")


def _fmt(x):
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, list) and len(x) > 8:
        return "[" + ", ".join(_fmt(v) for v in x[:4]) + ", ..., " + _fmt(x[-1]) + "]"
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return str(x)


def caption(name, entry):
    """The README section of one item."""
    s = entry["settings"]
    scaled = [f"{k} = {_fmt(s[k]['value'])} (paper: {_fmt(s[k]['paper'])})" for k in sorted(s) if s[k]["scaled"]]
    d = entry["data"]
    lines = [f"## {name}", "", CAPTIONS[name], ""]
    lines.append("Files: " + ", ".join(f"`{f}`" for f in entry["files"]) + ".")
    lines.append("")
    lines.append(f"Data: `{d['spec']}`, {d['n_train']} training and {d['n_test']} test examples "
                 f"(sha256 {d['sha256'][:16]}...).")
    lines.append("")
    if scaled:
        lines.append("Differs from the paper: " + "; ".join(scaled) + ".")
    else:
        lines.append("Settings: the paper's.")
    lines.append("")
    nums = _stable_numbers(name, entry["numbers"])
    if nums:
        lines.append("Numbers: " + "; ".join(f"{k} = {_fmt(v)}" for k, v in nums.items()) + ".")
        lines.append("")
    return "\n".join(lines)


def _stable_numbers(name, numbers):
    """The seed-fixed numbers worth a caption (no timings)."""
    if name == "table1":
        out = {}
        for key in ("test_accuracy_fixed_beta", "test_accuracy_effective_loss", "test_accuracy_em"):
            if key in numbers:
                out[key] = ", ".join(f"beta {b}: {a:.4f}" for b, a in numbers[key].items())
        return out
    if name == "fig6":
        return {"work fits": " ".join(numbers.get("verdict_work", []))}
    if name == "fig2":
        return {"test accuracy": ", ".join(f"{b}: {a:.4f}" for b, a in numbers["test_accuracy"].items())}
    return {k: v for k, v in numbers.items() if isinstance(v, (int, float, bool, list)) and k != "memories"}


def write_readme(out, manifest):
    """Write ``out/README.md`` from the manifest's entries."""
    items = manifest["items"]
    head = ["# The paper's figures and table, regenerated", "",
            f"Made by `saddlepoint paper --scale {manifest['scale']}` (saddlepoint "
            f"{manifest['saddlepoint_version']}). Every value used is in `manifest.json`, scaled ones marked "
            "(`\"scaled\": true`, with the paper's value beside it); timings are there too.", ""]
    body = [caption(n, items[n]) for n in ITEM_NAMES if n in items]
    missing = manifest.get("missing", {})
    tail = [f"- {n}: {msg}" for n, msg in missing.items()]
    text = "\n".join(head + body + (["## Not made", ""] + tail + [""] if tail else []))
    path = Path(out) / "README.md"
    tmp = path.with_name("README.md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
