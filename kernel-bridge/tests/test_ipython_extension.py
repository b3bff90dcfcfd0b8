import nbformat
from nbclient import NotebookClient


def run_cells(*sources: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return notebook.cells


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_load_ext_registers_the_magic_in_a_real_kernel(package_json):
    cells = run_cells(
        "%load_ext cusprun", "%cusprun version", "%cusprun help", "%cusprun frobnicate"
    )
    assert all(o.output_type != "error" for cell in cells[:3] for o in cell.outputs)
    assert text_of(cells[1]).strip() == f"cusprun {package_json['version']}"
    assert "usage: %cusprun <command>" in text_of(cells[2])
    # A mistake in input fails the cell with one clear line, never a traceback.
    assert [(o.output_type, o.traceback) for o in cells[3].outputs] == [
        (
            "error",
            [
                "cusprun: unknown command 'frobnicate' (known: export, model, corpus, score, plan, "
                "sweep, ablate, study, prune, verify, eval, runs, help, version)"
            ],
        )
    ]
