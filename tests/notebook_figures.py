"""Test-only instrumentation of notebooks: a description of every figure they draw.

`with_figure_recorder` adds a first cell that describes each figure the inline backend turns
into a PNG (title, axes titles and labels, legend entries, colour bars, longest line, x scales,
width), in display order, and a last cell that prints those descriptions; after the run,
`recorded_figures` reads them back and `figures_by_cell` matches them with the cells' PNG
outputs. So the notebook tests check what the figures show, not only how many there are.
"""

from __future__ import annotations

import json

import nbformat

_RECORD = """
import matplotlib.backend_bases as _backend_bases

_figures = []
_print_figure = _backend_bases.FigureCanvasBase.print_figure


def _record(self, *args, **kwargs):
    figure = self.figure
    legends = [ax.get_legend() for ax in figure.axes]
    _figures.append({
        "suptitle": figure.get_suptitle(),
        "texts": [figure.get_suptitle()]
        + [text for ax in figure.axes
           for text in (ax.get_title(loc="left"), ax.get_title(), ax.get_xlabel(),
                        ax.get_ylabel())]
        + [text.get_text() for legend in legends if legend for text in legend.get_texts()],
        "colorbars": sum(ax.get_label() == "<colorbar>" for ax in figure.axes),
        "points": max([len(line.get_xdata()) for ax in figure.axes for line in ax.get_lines()],
                      default=0),
        "xscales": [ax.get_xscale() for ax in figure.axes if ax.get_label() != "<colorbar>"],
        "width": figure.get_figwidth(),
    })
    return _print_figure(self, *args, **kwargs)


_backend_bases.FigureCanvasBase.print_figure = _record
"""
_PRINT = "import json\nprint('FIGURES ' + json.dumps(_figures))"


def with_figure_recorder(notebook: nbformat.NotebookNode) -> None:
    """Add the recording cell first and the printing cell last (the notebook is changed)."""
    notebook.cells.insert(0, nbformat.v4.new_code_cell(_RECORD))
    notebook.cells.append(nbformat.v4.new_code_cell(_PRINT))


def recorded_figures(notebook: nbformat.NotebookNode) -> list[dict]:
    """The figure descriptions the run printed, in display order."""
    return json.loads(notebook.cells[-1].outputs[0]["text"].removeprefix("FIGURES "))


def figures_by_cell(notebook: nbformat.NotebookNode, figures: list[dict]) -> dict[str, list]:
    """The recorded figures of each code cell, matched in display order with its PNG outputs."""
    by_cell: dict[str, list] = {}
    remaining = iter(figures)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if "image/png" in output.get("data", {}):
                    by_cell.setdefault(cell.id, []).append(next(remaining))
    return by_cell
