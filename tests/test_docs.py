"""The book (scripts/docs.sh): every docstring's math converts, the site builds in strict mode,
and a real browser shows rendered formulas, loaded figures and no console errors.

The build runs every component's verification and draws every figure (about two minutes on
two cores), so the build and the browser check are ``slow``; the browser check needs Debian's
``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import functools
import http.server
import importlib
import inspect
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "scripts" / "docs"
SITE = ROOT / "site"
SHOTS = ROOT / "logs" / "docs_check"
sys.path.insert(0, str(DOCS))

docmark = pytest.importorskip("docmark", reason="the docs packages are not installed")
build = importlib.import_module("build")

RAW_TEX = re.compile(r"\\(frac|begin|alpha|sum|sqrt|partial|text)\b|\$\$|:math:")


def _docstrings():
    for mod in build.API_MODULES:
        module = importlib.import_module(mod)
        yield mod, module.__doc__ or ""
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            yield f"{mod}.{name}", getattr(obj, "__doc__", None) or ""
            for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                if not attr.startswith("_") and callable(member) and member.__doc__:
                    yield f"{mod}.{name}.{attr}", member.__doc__


def test_every_public_docstring_converts_to_mathml():
    import markdown

    md = markdown.Markdown(extensions=["docmark"])
    failures = []
    for where, doc in _docstrings():
        text = docmark.rst_to_markdown(inspect.cleandoc(doc))
        for m in re.finditer(docmark.MATH_RE, text, re.S):
            tex = m.group(1) if m.group(1) is not None else m.group(2)
            try:
                docmark.tex_to_mathml(tex, display=m.group(1) is not None)
            except ValueError as exc:
                failures.append(f"{where}: {exc}")
        html = md.reset().convert(text)
        visible = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", html, flags=re.S)
        if RAW_TEX.search(visible):
            failures.append(f"{where}: raw TeX left: {RAW_TEX.search(visible).group(0)!r}")
    assert not failures, "\n".join(failures)


def test_rst_constructs_become_markdown():
    doc = inspect.cleandoc(r"""Summary with :math:`\alpha
        + 1` and :class:`~nnref.activations.ELU`.

        .. math:: f(x) = x
            + 1

            g(x) = 2

        Shape:
            - Input: :math:`(*)`.

        Examples::

            >>> 1 + 1
            2
        """)
    md = docmark.rst_to_markdown(doc)
    assert "$\\alpha + 1$" in md and "`ELU`" in md
    assert "$$f(x) = x + 1$$" in md and "$$g(x) = 2$$" in md
    assert "**Shape**" in md and "- Input: $(*)$." in md
    assert "**Examples**\n\n```python\n>>> 1 + 1\n2\n```" in md
    html = docmark.makeExtension()
    import markdown

    out = markdown.markdown(md, extensions=[html])
    assert out.count("<math") == 4 and "\\alpha" not in out and "$" not in out
    assert "<mi>&#x003B1;</mi>" in out


def test_unconvertible_tex_warns_the_strict_build(caplog):
    import markdown

    out = markdown.markdown(r"bad $x^$ and $\unknowncmd x$, good $x$", extensions=["docmark"])
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "cannot convert TeX 'x^'" in caplog.text and "unknown command" in caplog.text
    assert all(r.name.startswith("mkdocs.") for r in caplog.records)  # --strict counts them
    assert out.count("<code>") == 2 and out.count("<math") == 1


@functools.cache
def _built_site() -> Path:
    result = subprocess.run([sys.executable, str(DOCS / "build.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return SITE


@pytest.mark.slow
def test_site_builds_in_strict_mode():
    site = _built_site()
    for page in ("index.html", "activations/index.html", "optimizers/index.html",
                 "experiments/vanishing_gradient/index.html", "performance/index.html",
                 "deviations/index.html", "api/nnref.activations/index.html"):
        assert (site / page).is_file(), page
    html = (site / "activations" / "index.html").read_text(encoding="utf-8")
    assert html.count("<math") > 50 and 'id="elu"' in html
    assert html.count("nnref.verify.run(names=") == len(build.registry.KINDS["activation"])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_bin, (
        "the browser check needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    site = _built_site()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_bin))
    driver.set_page_load_timeout(60)
    try:
        yield driver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("page, shot", [
    ("", "home"),
    ("activations/", "activations"),
    ("experiments/vanishing_gradient/", "experiment_vanishing_gradient"),
])
def test_page_renders_in_chromium(browser, page, shot):
    driver, base = browser
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(f"{base}/{page}")
    driver.execute_script("return document.fonts.ready")
    text = driver.execute_script("return document.body.innerText")
    assert not RAW_TEX.search(text), f"raw TeX visible: {RAW_TEX.search(text).group(0)!r}"
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth])")
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load: {broken}"
    if page == "activations/":
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('math')).map("
            "m => m.getBoundingClientRect().width)")
        assert len(sizes) > 50 and min(sizes) > 0, "MathML not laid out"
        assert len(images) >= 20
    if page.startswith("experiments/"):
        assert images, "the experiment page shows no figure"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    if page == "activations/":
        driver.execute_script("document.getElementById('elu').scrollIntoView()")
        driver.save_screenshot(str(SHOTS / "activations_elu.png"))
