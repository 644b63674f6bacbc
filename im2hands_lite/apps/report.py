"""The results page `make run` ends with: every executed notebook as HTML (figures inline,
plotly figures interactive), and one `index.html` that links them with the tables, figures and
meshes the notebooks wrote. Everything it needs sits beside it, so it opens offline.

    im2hands report outputs/       # -> outputs/index.html, outputs/html/<notebook>.html, html/plotly.min.js
"""
from __future__ import annotations

import csv
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..checkpoints import atomic_write

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
TABLE_SUFFIXES = (".csv", ".md", ".json", ".tsv")
MESH_SUFFIXES = (".ply", ".obj", ".stl", ".glb", ".off")
TABLE_ROWS_SHOWN = 30
PAGES = "html"  # the notebooks' pages, in outputs/
NOT_RESULTS = ("cache", "checkpoints")  # folders of data caches and resumable checkpoints: not listed


@dataclass
class NotebookPage:
    """One executed notebook on the index."""

    notebook: str  # file name in the outputs folder
    page: str  # its HTML page, relative to the outputs folder
    title: str
    seconds: float | None  # papermill's execution time
    failed: bool  # papermill recorded an exception
    figures: int  # image outputs (inline in the page)
    plots: int  # plotly figures (interactive in the page)


def _write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode()))


def notebook_title(nb) -> str:
    """The notebook's first Markdown heading, without its '#'s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def plotly_outputs_to_html(nb) -> int:
    """Give every plotly figure output an HTML form (a div drawn by plotly.js), which nbconvert
    has no renderer for; returns how many there were. The figure JSON is kept beside it."""
    import plotly.io as pio

    count = 0
    for c, cell in enumerate(nb.cells):
        for o, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                figure = data[PLOTLY_MIME]
                figure = json.loads(figure) if isinstance(figure, str) else figure
                data["text/html"] = pio.to_html(figure, include_plotlyjs=False, full_html=False, validate=False,
                                                div_id=f"plot-{c}-{o}")
                count += 1
    return count


def count_images(nb) -> int:
    return sum(any(m in output.get("data", {}) for m in IMAGE_MIMES)
               for cell in nb.cells for output in cell.get("outputs", []))


def export_notebook(path: Path, folder: Path, source_dir: Path | None = None) -> NotebookPage:
    """Write one executed notebook as <folder>/<name>.html (a page of the index one folder up,
    with plotly.min.js beside it); Markdown images are read from `source_dir` (where the notebook
    ran) and embedded."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    plots = plotly_outputs_to_html(nb)
    exporter = HTMLExporter(template_name="lab", template_file=str(TEMPLATES / "notebook.html.j2"),
                            embed_images=True)
    resources = {"metadata": {"name": path.stem, "path": str(source_dir or path.parent)},
                 "plotly_js_url": "plotly.min.js", "index_url": "../index.html"}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    _write_text(folder / f"{path.stem}.html", body)
    papermill = nb.metadata.get("papermill", {})
    return NotebookPage(notebook=path.name, page=f"{folder.name}/{path.stem}.html", title=notebook_title(nb) or path.stem,
                        seconds=papermill.get("duration"), failed=bool(papermill.get("exception")),
                        figures=count_images(nb), plots=plots)


def write_plotly_js(folder: Path) -> Path:
    """plotly.js from the installed plotly package, so the pages draw offline."""
    from plotly.offline import get_plotlyjs

    return _write_text(folder / "plotly.min.js", get_plotlyjs())


# ----------------------------------------------------------------------------- the index

def _csv_table(path: Path) -> str:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return "<p>(empty)</p>"
    head, body = rows[0], rows[1:]
    shown = body[:TABLE_ROWS_SHOWN]
    cells = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    lines = ["<table><thead><tr>" + cells + "</tr></thead><tbody>"]
    lines += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in shown]
    lines.append("</tbody></table>")
    if len(body) > len(shown):
        lines.append(f"<p class='note'>first {len(shown)} of {len(body)} rows</p>")
    return "\n".join(lines)


def _file_section(outputs: Path, files: list[Path]) -> tuple[str, str, str]:
    """HTML of the tables, figures and other files the notebooks wrote."""
    tables, figures, others = [], [], []
    for path in files:
        rel = path.relative_to(outputs).as_posix()
        link = f"<a href='{html.escape(rel)}'>{html.escape(rel)}</a>"
        if path.suffix == ".csv":
            tables.append(f"<details><summary>{link}</summary>{_csv_table(path)}</details>")
        elif path.suffix in (".md", ".tsv"):
            text = path.read_text(errors="replace")
            tables.append(f"<details><summary>{link}</summary><pre>{html.escape(text)}</pre></details>")
        elif path.suffix in TABLE_SUFFIXES:
            tables.append(f"<p>{link}</p>")
        elif path.suffix.lower() in FIGURE_SUFFIXES:
            figures.append(f"<figure><a href='{html.escape(rel)}'><img src='{html.escape(rel)}' alt='{html.escape(rel)}'></a><figcaption>{html.escape(rel)}</figcaption></figure>")
        else:
            kind = "mesh" if path.suffix.lower() in MESH_SUFFIXES else "file"
            others.append(f"<li>{kind}: {link} ({path.stat().st_size / 1024:.0f} KB)</li>")
    return "\n".join(tables), "\n".join(figures), "\n".join(others)


INDEX_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.failed { color: #b00; font-weight: bold; } .note { color: #666; font-size: 13px; }
figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
figure img { max-width: 320px; max-height: 240px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; } summary { cursor: pointer; margin: 0.3em 0; }
"""


def write_index(outputs: Path, pages: list[NotebookPage], title: str = "im2hands-lite: results of make run",
                stale: list[str] = ()) -> Path:
    """outputs/index.html: the notebooks (links, time, figures), then every table, figure and
    other file under `outputs` except the executed notebooks, the HTML pages and what lies in
    NOT_RESULTS folders; `stale` names
    executed notebooks left from an earlier run whose source notebook is gone."""
    rows = []
    for p in pages:
        status = "<span class='failed'>failed</span>" if p.failed else "ran"
        seconds = f"{p.seconds:.0f} s" if p.seconds is not None else ""
        rows.append(f"<tr><td><a href='{html.escape(p.page)}'>{html.escape(p.title)}</a></td>"
                    f"<td>{html.escape(p.notebook)}</td><td>{status}</td><td>{seconds}</td>"
                    f"<td>{p.figures}</td><td>{p.plots}</td></tr>")
    files = sorted(path for path in outputs.rglob("*")
                   if path.is_file() and path != outputs / "index.html" and path.parent != outputs / PAGES
                   and not (path.parent == outputs and path.suffix == ".ipynb")
                   and not any(part.startswith(".") or part in NOT_RESULTS
                               for part in path.relative_to(outputs).parts))
    stale_note = (f"<p class='note'>Left in outputs/ from an earlier run, and no longer among the notebooks: "
                  f"{html.escape(', '.join(stale))}.</p>" if stale else "")
    tables, figures, others = _file_section(outputs, files)
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{INDEX_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Every notebook executed headless (papermill) with its figures; plotly figures can be turned and zoomed.
Sliders and other widgets need a running kernel: open the notebook in Jupyter for those.</p>
<h2>Notebooks</h2>
<table><thead><tr><th>notebook</th><th>file</th><th>status</th><th>time</th><th>figures</th><th>3D plots</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
{stale_note}
<h2>Tables</h2>
{tables or "<p class='note'>none written</p>"}
<h2>Figures</h2>
{figures or "<p class='note'>none written</p>"}
<h2>Other files</h2>
<ul>{others or "<li class='note'>none</li>"}</ul>
</body></html>
"""
    return _write_text(outputs / "index.html", body)


def write_report(outputs: str | Path, source_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Export every executed notebook in `outputs` (`NN_*.ipynb`) to outputs/html/ and write
    outputs/index.html; `source_dir` is where the notebooks ran (their Markdown images' folder):
    an executed notebook without a source there is left from an earlier run, and only named."""
    from tqdm.auto import tqdm

    outputs = Path(outputs)
    notebooks = sorted(p for p in outputs.glob("*.ipynb") if re.match(r"\d", p.name))
    stale = [p.name for p in notebooks if source_dir is not None and not (Path(source_dir) / p.name).is_file()]
    notebooks = [p for p in notebooks if p.name not in stale]
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks (NN_*.ipynb) in {outputs}: run them first (`make run`)")
    folder = outputs / PAGES
    write_plotly_js(folder)
    pages = [export_notebook(path, folder, Path(source_dir) if source_dir else None)
             for path in tqdm(notebooks, desc="notebooks -> HTML", disable=not progress)]
    for old in set(folder.glob("*.html")) - {outputs / page.page for page in pages}:  # pages of notebooks gone
        old.unlink()
    return write_index(outputs, pages, stale=stale)
