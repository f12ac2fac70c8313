"""A page rendered in headless Chromium, offline, at 1280 px: what loaded, how wide it is, what it fetched."""

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

WIDTH = 1280
BINARIES = ("chromium", "chromium-browser")
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
"""Chromium without a network: no name resolves and every request goes to a closed port."""

CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const src = i => i.getAttribute("src");
  const right = document.body.getBoundingClientRect().right;
  const verdict = {
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(src),
    without_alt: images.filter(i => !i.alt.trim()).map(src),
    sticking_out: images.filter(i => i.getBoundingClientRect().right > right + 0.5).map(src),
    inner_width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    fetched: performance.getEntriesByType("resource").map(r => r.name),
  };
  const out = document.createElement("pre");
  out.id = "verdict";
  out.textContent = JSON.stringify(verdict);
  document.body.appendChild(out);
});
</script>"""
"""Injected before ``</body>``: on load, writes the verdict into the page as JSON: the images that did not load,
that have no alt text, that stick out of the body on the right; the window's width and the page's; the resources
fetched (file: ones are not listed)."""


def chromium() -> str:
    """The Chromium binary; the test is skipped, saying how to install one, where there is none."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no Chromium binary ({' or '.join(BINARIES)}) on PATH: install Debian's chromium package "
                "(apt-get install chromium; bash scripts/setup.sh --dev does it as root)")


def render(page: Path, timeout: float = 60.0) -> dict:
    """Open a copy of ``page`` (beside it, so relative links resolve) with :data:`CHECK` injected in headless
    Chromium, :data:`WIDTH` px wide and offline, and return the verdict."""
    binary = chromium()
    text = page.read_text()
    assert "</body>" in text, f"{page} has no </body>"
    probe = page.with_name(f".check-{page.name}")
    probe.write_text(text.replace("</body>", CHECK + "</body>", 1))
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
             f"--window-size={WIDTH},900", "--hide-scrollbars", "--virtual-time-budget=10000", *OFFLINE,
             "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
    probe.unlink()
    found = re.search(r'<pre id="verdict">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no verdict from {binary} (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


EXTERNAL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)\s*(?:https?:|//)""", re.I)
"""A link out to the network in ``src``, ``href`` or CSS ``url()``: ``http:``, ``https:`` or ``//`` (the page's
scheme, another host)."""


def external_links(text: str) -> list[str]:
    """The links of :data:`EXTERNAL` in an HTML text."""
    return [m.group(0) for m in EXTERNAL.finditer(text)]
