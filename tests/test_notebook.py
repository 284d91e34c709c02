"""notebooks/scaling_analysis.ipynb executes against a run the tests write, so it cannot rot."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.synthetic_runs import write_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "notebooks", "scaling_analysis.ipynb")


@pytest.mark.parametrize("training", [True, False])
def test_notebook_executes(tmp_path, monkeypatch, training):
    run_dir = write_run(tmp_path / "run", training=training)
    monkeypatch.setenv("SCALING_RUN_DIR", str(run_dir))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel starts in the checkout, so it imports this tree's scaling package.
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"run {run_dir.name}: status ok" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # busbw always; throughput, efficiency, breakdown and per-rank when the run trained
    assert len(images) == (5 if training else 1)
