"""HTML run pages: structure, escaping of hostile labels, links that resolve, and a real headless browser."""
from __future__ import annotations

import base64

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli import main
from harness.outputs import view_of_run
from harness.render.html import write_index, write_run_report
from harness.results import ALL_COLUMNS, ResultsWriter, RunFiles
from tests.conftest import run_cli

pytestmark = pytest.mark.xdist_group('smoke_run')  # the session's smoke sweep runs once, on one worker

HOSTILE = "<script>alert('x')</script>"


class Links(HTMLParser):
    """Collects img src and a href values, and whether any <script> element exists."""

    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.srcs.append(attrs["src"])
        if tag == "a":
            self.hrefs.append(attrs["href"])
        if tag == "script":
            self.scripts += 1


def fake_run(tmp_path, run_id="r1", label=HOSTILE):
    files = RunFiles(tmp_path / "results", run_id, tmp_path / "plots")
    writer = ResultsWriter(files)
    for backend, status, gflops in (("numpy", "ok", 10.0), ("fast", "ok", 20.0), ("naive", "skipped", None)):
        row = {c: None for c in ALL_COLUMNS}
        row.update(run_id=run_id, backend=backend, device="cpu", case=label, status=status, flops=2e6,
                   gflops=gflops, time_s=2e6 / gflops / 1e9 if gflops else None,
                   reason="" if gflops else f"too slow {HOSTILE}")
        writer.append(row, [row["time_s"]] * 5 if gflops else [])
    meta = {"preset": "smoke", "host": "h<b>", "cpu_model": "cpu", "command": "python -m harness sweep",
            "started_at": "2026-11-26T00:00:00+00:00"}
    writer.write_metadata(meta)
    files.plots.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "data" / "tiny.png", files.plots / "gflops.png")
    return files, meta


def page_of(files, meta, verdicts=()):
    view = view_of_run(files, meta)
    view.verdicts = list(verdicts)
    return write_run_report(view)


def test_run_page_escapes_hostile_values_and_embeds_its_figures(tmp_path):
    files, meta = fake_run(tmp_path)
    page = page_of(files, meta, [f"5x5 branch {HOSTILE}: 9.7x fewer FLOPs"])
    html = page.read_text()
    parser = Links()
    parser.feed(html)
    assert parser.scripts == 0  # hostile labels render as text, and the page needs no JavaScript
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "h&lt;b&gt;" in html
    tiny = base64.b64encode((Path(__file__).parent / "data" / "tiny.png").read_bytes()).decode()
    assert parser.srcs == [f"data:image/png;base64,{tiny}"]  # the page carries its figure: one file to share
    # rows without trust columns (old runs) get them on read; unchecked rows are untrusted, hence "!"
    assert re.search(r'<td class="best untrusted" title="noisy">20!</td>', html)
    assert "too slow" in html and "python -m harness sweep" in html
    # naive ran nowhere: no column in the grid, one line under it (and its row in the table of points not measured)
    assert "<th>naive</th>" not in html
    assert '<p class="sub" id="not-run">Not run: naive (skipped: too slow &lt;script&gt;' in html
    assert "9.7x fewer FLOPs" in html


def test_index_lists_runs_with_links(tmp_path):
    files, meta = fake_run(tmp_path, "r1", label="3a 1x1")
    page_of(files, meta)
    fake_run(tmp_path, "r2", label="3a 3x3")
    page = write_index(tmp_path / "results", tmp_path / "plots")
    parser = Links()
    parser.feed(page.read_text())
    assert parser.hrefs == ["r1/index.html"]  # r2 has no page yet: listed, not linked
    assert all((page.parent / h).is_file() for h in parser.hrefs)
    assert "r2" in page.read_text() and "fast 20, numpy 10 GFLOP/s" in page.read_text()


def test_report_command(tmp_path, capsys):
    fake_run(tmp_path)
    args = ["--results-dir", str(tmp_path / "results"), "--plots-dir", str(tmp_path / "plots")]
    assert main(["report", "r1", *args]) == 0
    assert (tmp_path / "plots" / "r1" / "index.html").is_file()
    assert main(["report", "--index", *args]) == 0
    assert main(["report", "nope", *args]) == 2
    assert main(["report", *args]) == 2
    assert "needs a RUN" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["nosuchdir", "afile"])
def test_report_index_of_no_results_folder_leaves_the_index_alone(tmp_path, folder):
    (tmp_path / "afile").write_text("not a folder")
    index = tmp_path / "plots" / "index.html"
    index.parent.mkdir()
    index.write_text("KEEP")
    done = run_cli("report", "--index", "--results-dir", tmp_path / folder, "--plots-dir", tmp_path / "plots")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done
    assert f"--results-dir {tmp_path / folder}: " in done.stderr and index.read_text() == "KEEP"
    with pytest.raises(ValueError, match=f"results folder {re.escape(str(tmp_path / folder))}: (no such|not a) dir"):
        write_index(tmp_path / folder, tmp_path / "plots")  # the library refuses too
    assert index.read_text() == "KEEP"


def test_report_names_what_is_wrong_with_its_run(tmp_path):
    fake_run(tmp_path)
    results, plots = tmp_path / "results", tmp_path / "plots"
    (results / "noise.json").write_text("{}")
    (tmp_path / "afile").write_text("not a run")
    for run, where, says in (
            (results / "r1.json", results, f"{results / 'r1.json'} is the metadata of run 'r1', not its table: name "
                                           f"{results / 'r1.csv'} or the run id r1"),
            (results / "r1.samples.csv", results, "is the samples file of run 'r1', not its table"),
            (results / "r1.passes.jsonl", results, "is the passes file of run 'r1', not its table"),
            (results / "noise.json", results, "is the harness's stored noise floor, not a run"),
            (tmp_path / "afile", results, f"{tmp_path / 'afile'} is not a run table (RESULTS_DIR/RUN_ID.csv)"),
            ("r1", tmp_path / "nosuchdir", f"no such run 'r1': there is no results folder {tmp_path}/nosuchdir here"),
            ("r1", tmp_path / "afile", f"--results-dir {tmp_path / 'afile'}: not a directory"),
            ("r2", results, f"no such run 'r2' in {results} (no {results / 'r2.csv'})"),
            (results, tmp_path, f"{results} is a folder: name a run in it as --results-dir {results} RUN_ID")):
        done = run_cli("report", run, "--results-dir", where, "--plots-dir", plots)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, (run, done.stderr)
    assert not (plots / "r1" / "index.html").exists()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_smoke_page_in_a_real_browser(smoke_run, tmp_path):
    """Headless Chromium opens the session's smoke run page copied alone to another folder: every image decodes
    (they are embedded), the table and the verdict are there."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (CI installs Debian's chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    run_dir, _ = smoke_run
    page_path = tmp_path / "alone" / "index.html"  # the page mailed on its own: no PNGs beside it
    page_path.parent.mkdir()
    shutil.copy(run_dir / "plots" / "smoke-test" / "index.html", page_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        rows = page.eval_on_selector_all("#summary tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
        verdict = page.text_content("#verdict")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert len(widths) >= 4 and all(w > 0 for w in widths), widths
    assert rows == [f"{branch}{part}" for branch in ("1x1", "3x3", "3x3/2", "5x5")
                    for part in (" reduce", "", " fused", " direct")]  # a chain after its conv
    assert "5x5 branch" in verdict and "fewer FLOPs" in verdict
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_the_page_opens_with_the_answer_table_then_the_sentences(tmp_path):
    """A run with a reduction branch: the answer table (branch x backend) is the page's first section, the
    verdict sentences follow it, then the trust banner, the totals and the GFLOP/s grid."""
    from tests.fakes import fake_run_table

    files = RunFiles(tmp_path / "results", "t", tmp_path / "plots")
    writer = ResultsWriter(files)
    for row in fake_run_table().to_dict("records"):
        rounds = [row["time_s"] * (1 + 0.001 * i) for i in range(8)] if row["status"] == "ok" else []
        writer.append(dict(row, run_id="t"), rounds)
    meta = {"preset": "smoke", "host": "h", "cpu_model": "cpu", "started_at": "2026-11-26T00:00:00+00:00"}
    writer.write_metadata(meta)
    html = write_run_report(view_of_run(files, meta)).read_text()
    body = html[html.index("<body>"):]
    sections = re.findall(r'<(?:section|table)[^>]* id="(\w+)"', body)
    assert sections[:4] == ["answer", "verdict", "trust", "totals"] and "summary" in sections
    answer = body[body.index('id="answer"'):body.index('id="verdict"')]
    assert "The answer: does the 1x1 reduction save as much time as it saves FLOPs?" in answer
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", answer)
    assert cells[:7] == ["3a 5x5", "naive", "10.0x", "-", cells[4], "36%", "yes"] and cells[4].startswith("3.6x [")
    assert "smoke convs [synthetic layers, not a network]" in body


def test_a_sweep_ends_its_output_with_the_answer_and_its_page_opens_with_it(smoke_run):
    """The session's smoke sweep: paths, totals and the verdict sentences come before the answer table, which
    closes the output; the page's first section is the same table."""
    run_dir, proc = smoke_run
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    blocks = [b for b in out.split("\n\n") if b.strip()]
    # smoke's 3x3 branch runs at N=2, the others at N=1: an answer table per batch, closing the output
    assert blocks[-2].startswith("The answer (N=1): does the 1x1 reduction save as much time as it saves FLOPs?")
    assert blocks[-1].startswith("The answer (N=2): ")
    assert "│ 5x5    │ numpy" in blocks[-2] and "│ 3x3    │ numpy" in blocks[-1]
    assert blocks[-3].startswith("The 1x1 reduction, measured (the answer tables below sum it up):\n  1x1 branch (N=1): ")
    assert out.index("Wrote:") < out.index("Network totals") < out.index("The 1x1 reduction") < out.index("The answer")
    html = (run_dir / "plots" / "smoke-test" / "index.html").read_text()
    assert re.findall(r'<section[^>]* id="(\w+)"', html)[0] == "answer"
