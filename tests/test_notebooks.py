"""The tutorial notebooks run top to bottom, fast and without a warning.

Each notebook in ``notebooks/`` is executed in a fresh Jupyter kernel (``nbclient``; the
``notebooks`` extra, also pulled by ``test``). A cell that raises fails the test, and so does
any output on stderr: warnings (numba, numpy, matplotlib, our own) and stray progress bars
are printed there. Notebooks are committed without outputs (STYLE 7), which is checked too.
"""

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_errors_or_warnings(path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)  # cell ids present (nbformat >= 4.5), well-formed
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} is committed with outputs: clear them"
    # the kernel imports this checkout's package (tests may run without installing it)
    root = str(path.parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg")
    client = NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                pytest.fail(f"{path.name}, cell {i}: output on stderr (a warning?):\n{out['text']}")
