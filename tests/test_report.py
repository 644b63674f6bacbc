"""The results page `make run` writes (apps/report.py): every executed notebook as an HTML page
that works offline, and an index linking them with the files the notebooks wrote. A real
browser check of the same pages: scripts/check_report_in_browser.py."""
import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from im2hands_lite.apps.report import write_report
from im2hands_lite.cli import main

# a 1x1 PNG
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
PLOTLY = {"data": [{"type": "scatter3d", "x": [0, 1], "y": [0, 1], "z": [0, 1], "mode": "markers"}],
          "layout": {"title": {"text": "two points"}}}


class Links(HTMLParser):
    """Every src / href in a page."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append((tag, name, value))


def refs_of(path: Path) -> list[tuple[str, str, str]]:
    parser = Links()
    parser.feed(path.read_text())
    return parser.refs


def executed_notebook(path: Path, title: str, plots: int, images: int, failed: bool = False, duration: float = 12.5):
    cells = [new_markdown_cell(f"# {title}\n\nThe hand:\n\n![a hand](figures/hand.png)\n\nand $x^2$.")]
    for _ in range(images):
        cells.append(new_code_cell("plt.show()", outputs=[new_output(
            "display_data", data={"image/png": base64.b64encode(PNG).decode(), "text/plain": "<Figure>"})]))
    for _ in range(plots):
        cells.append(new_code_cell("fig.show()", outputs=[new_output(
            "display_data", data={"application/vnd.plotly.v1+json": PLOTLY, "text/plain": "Figure"})]))
    cells.append(new_code_cell("print('done')", outputs=[new_output("stream", name="stdout", text="done\n")]))
    nb = new_notebook(cells=cells)
    nb.metadata["papermill"] = {"duration": duration, "exception": failed}
    nbformat.write(nb, path)


@pytest.fixture
def outputs(tmp_path):
    source = tmp_path / "notebooks"
    (source / "figures").mkdir(parents=True)
    (source / "figures" / "hand.png").write_bytes(PNG)
    out = tmp_path / "outputs"
    out.mkdir()
    executed_notebook(out / "01_data.ipynb", "01 · Data", plots=2, images=1)
    executed_notebook(out / "02_halo.ipynb", "02 · HALO", plots=0, images=3, failed=True)
    executed_notebook(out / "02_old_name.ipynb", "02 · renamed since", plots=0, images=0)  # from an earlier run
    for name in ("01_data.ipynb", "02_halo.ipynb"):  # the notebooks that ran
        (source / name).write_text("{}")
    (out / "scratch.ipynb").write_text("{}")  # not a course notebook: not exported
    (out / "02_iou.csv").write_text("variant,iou\nhalo,0.86\ni,0.85\n")
    (out / "02_curve.png").write_bytes(PNG)
    (out / "meshes").mkdir()
    (out / "meshes" / "01_right.ply").write_text("ply\n")
    for inner in ("runs/k/checkpoints/step_0000010.pt", "runs/cache/train/shard_00000.npz"):  # not results
        (out / inner).parent.mkdir(parents=True)
        (out / inner).write_text("x")
    (out / "runs" / "k" / "log.csv").write_text("step,loss\n1,0.5\n")
    return source, out


def test_report_pages_work_offline_and_every_local_link_resolves(outputs):
    source, out = outputs
    index = write_report(out, source, progress=False)
    assert index == out / "index.html"
    pages = sorted(p.name for p in (out / "html").glob("*.html"))
    assert pages == ["01_data.html", "02_halo.html"]
    assert (out / "html" / "plotly.min.js").stat().st_size > 1_000_000  # the whole library, offline
    for page in [index, *(out / "html").glob("*.html")]:
        for tag, attribute, value in refs_of(page):
            if value.startswith(("data:", "#")):
                continue
            if value.startswith(("http://", "https://")):  # only MathJax may come from the network
                assert tag == "script" and "mathjax" in value.lower(), (page.name, value)
                continue
            assert (page.parent / value.split("#")[0]).exists(), f"{page.name}: {tag} {attribute}={value} is missing"


def test_notebook_pages_draw_every_plotly_figure_and_embed_every_image(outputs):
    source, out = outputs
    write_report(out, source, progress=False)
    page = (out / "html" / "01_data.html").read_text()
    assert len(re.findall(r'<div [^>]*id="plot-\d+-\d+"', page)) == 2  # each plotly output as a drawn div
    assert page.count("Plotly.newPlot") == 2
    assert re.findall(r'<script src="([^"]*)"', page)[0] == "plotly.min.js"  # first, before the figures
    assert "require.min.js" not in page  # it would capture plotly.js as an AMD module
    embedded = r'<img [^>]*src="data:image/png;base64'
    assert len(re.findall(embedded, page)) == 2  # the output and the Markdown image
    assert "figures/hand.png" not in re.sub(r'alt="[^"]*"', "", page)
    assert 'href="../index.html"' in page
    assert "<title>02 · HALO" not in page and len(re.findall(embedded, (out / "html" / "02_halo.html").read_text())) == 4


def test_index_lists_notebooks_tables_figures_and_meshes(outputs):
    source, out = outputs
    index = write_report(out, source, progress=False).read_text()
    assert index.index("01 · Data") < index.index("02 · HALO")  # in the order they run
    row_01 = re.search(r"<tr><td><a href='html/01_data.html'>01 · Data</a></td>(.*?)</tr>", index).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row_01) == ["01_data.ipynb", "ran", "12 s", "1", "2"]
    row_02 = re.search(r"<tr><td><a href='html/02_halo.html'>02 · HALO</a></td>(.*?)</tr>", index).group(1)
    assert "failed" in row_02
    # an executed notebook whose source is gone is named, not exported; its old page is removed
    assert "no longer among the notebooks: 02_old_name.ipynb" in index and "02 · renamed since" not in index
    assert not (out / "html" / "02_old_name.html").exists()
    assert "html/scratch.html" not in index and not (out / "html" / "scratch.html").exists()  # listed as a file only
    assert "<th>variant</th><th>iou</th>" in index and "<td>0.86</td>" in index  # the CSV as a table
    assert "<img src='02_curve.png'" in index
    assert "mesh: <a href='meshes/01_right.ply'>" in index
    assert "runs/k/log.csv" in index and "checkpoints" not in index and "shard_00000" not in index
    assert "01_data.ipynb'>" not in index and "plotly.min.js" not in index  # the notebooks are the pages


def test_report_without_executed_notebooks_says_to_run_them(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="make run"):
        write_report(tmp_path, progress=False)
    assert main(["report", str(tmp_path), "--quiet"]) == 2
    assert "no executed notebooks" in capsys.readouterr().err


def test_pages_of_notebooks_that_are_gone_are_removed(outputs):
    source, out = outputs
    write_report(out, progress=False)  # no source folder: every executed notebook is exported
    assert (out / "html" / "02_old_name.html").is_file()
    write_report(out, source, progress=False)
    assert sorted(p.name for p in (out / "html").glob("*.html")) == ["01_data.html", "02_halo.html"]


def test_cli_report_prints_where_the_page_is(outputs, capsys):
    source, out = outputs
    assert main(["report", str(out), "--source", str(source), "--quiet"]) == 0
    assert str((out / "index.html").resolve()) in capsys.readouterr().out
