"""The tiny benchmark's report rendered in a real headless browser (Debian's chromium; skipped where none
is installed): the page is no wider than the window, every table-of-contents entry leads to a section,
and the page asks for nothing over the network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.testing import TinyZoo

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
PROBE = """<script>
window.addEventListener("load", () => {
  const ids = [...document.querySelectorAll("nav.toc a")].map(a => a.getAttribute("href").slice(1));
  const out = {width: document.documentElement.scrollWidth, window: window.innerWidth,
               missing: ids.filter(id => !document.getElementById(id)), sections: ids.length,
               resources: performance.getEntriesByType("resource").map(r => r.name)};
  document.body.setAttribute("data-probe", JSON.stringify(out));
});
</script>"""


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed")
def test_the_tiny_report_reads_well_in_a_browser(tiny: TinyZoo, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    result = CliRunner().invoke(app, ["bench", "run", "tiny", "-f", "akh", "-f", "random", "--seeds", "0,1",
                                      "--executor", "inline", "--home", str(home)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = tmp_path / "probe.html"
    page.write_text((home / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [str(BROWSER), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    probe = json.loads(re.search(r'data-probe="([^"]*)"', dom).group(1).replace("&quot;", '"'))  # type: ignore[union-attr]
    assert probe["width"] <= probe["window"], probe  # wide tables scroll inside their boxes
    assert probe["sections"] >= 5 and probe["missing"] == [], probe
    assert [r for r in probe["resources"] if not r.startswith(("data:", "file:"))] == [], probe
