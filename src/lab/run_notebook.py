"""Runs a learner's notebook for `kinesis-lab lab part2 --notebook`.

    python run_notebook.py NOTEBOOK.ipynb CELL_TIMEOUT_SECONDS

Every code cell in order, in a Jupyter kernel of this very Python (nbclient
and ipykernel), with the environment it was given: the kernel's boto3 reads
AWS_ENDPOINT_URL and the credentials from there. It stops at the first cell
that raises, as "Run All" does. Each line a cell showed is printed as
`[cell N] line`, N counting every cell of the notebook from 1; the last line
is `kinesis-lab-result {json}`: how many code cells ran, and the cell that
raised with its error's last line. A module it needs that is missing is one
line, `kinesis-lab-missing NAME`, and exit status 3.
"""

import json
import os
import sys

try:
    import boto3  # noqa: F401  (the notebook's own, in its kernel)
    import ipykernel  # noqa: F401
    import nbclient
    import nbformat
except ImportError as missing:
    print(f"kinesis-lab-missing {missing.name}", flush=True)
    sys.exit(3)

from nbclient.exceptions import CellExecutionError


def shown(output):
    """The text an output shows, as the notebook would show it."""
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if kind == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    return ""


def main():
    path, timeout = sys.argv[1], int(sys.argv[2])
    notebook = nbformat.read(path, as_version=4)
    # A saved notebook keeps the counts and outputs of its last run: only
    # this run's may count.
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
            cell.outputs = []
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    try:
        client.execute()
    except CellExecutionError:
        pass  # the cell's error output says which, below
    ran, raised = 0, None
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        ran += 1
        for output in cell.get("outputs", []):
            for line in shown(output).splitlines():
                print(f"[cell {number}] {line}")
            if output.get("output_type") == "error" and raised is None:
                raised = {"cell": number, "line": shown(output)}
    print("kinesis-lab-result " + json.dumps({"cells": ran, "raised": raised}), flush=True)


if __name__ == "__main__":
    main()
