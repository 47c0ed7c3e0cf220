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
import json
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
    for mod in build.api_modules():
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
    assert "<mi>\u03b1</mi>" in out


def test_unconvertible_tex_warns_the_strict_build(caplog):
    import markdown

    out = markdown.markdown(r"bad $x^$ and $\unknowncmd x$, good $x$", extensions=["docmark"])
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "cannot convert TeX 'x^'" in caplog.text and "unknown command" in caplog.text
    assert all(r.name.startswith("mkdocs.") for r in caplog.records)  # --strict counts them
    assert out.count("<code>") == 2 and out.count("<math") == 1


def test_aligned_and_cases_become_mathml_core_tables():
    """latex2mathml writes aligned as one row with <mi>&</mi> and MathML 3 line breaks, which
    Chromium draws as a single line of '&' glyphs: the book's MathML is tables instead."""
    html = docmark.tex_to_mathml(r"\begin{aligned} &\textbf{for}\ t = 1 \\ a &= b + c \\"
                                 r" &\hspace{5mm} f(x) = \begin{cases} 1 & x > 0 \\ 0 &"
                                 r" \text{else} \end{cases} \end{aligned}", display=True)
    assert not re.search(r"&(?!gt;|lt;|amp;)", html) and "linebreak" not in html
    assert "columnalign" not in html and "mathvariant" not in html
    assert html.count("<mtable") == 2 and html.count("<mtr") == 5
    assert '<mtd style="text-align: right"><mi>a</mi></mtd>' in html
    assert '<mtext style="font-weight: bold">for</mtext>' in html
    # a prime beside its letter, not a superscript raised a second time
    prime = docmark.tex_to_mathml("f'(x)", display=False)
    assert "<msup" not in prime and '<mo lspace="0" rspace="0">\u2032</mo>' in prime


@pytest.mark.parametrize("tex, error", [
    (r"a & b", "stray alignment mark"),
    (r"a \\ b", r"<mspace linebreak> is not MathML Core"),  # a line break outside a table
])
def test_mathml_outside_core_fails_the_build(tex, error):
    with pytest.raises(ValueError, match=error):
        docmark.tex_to_mathml(tex, display=True)


def test_in_short_renders_the_notes_formulas():
    assert build.in_short("f' = f(1 - f) <= 1/4: the cause of vanishing gradients") == (
        r"$f' = f(1 - f) \le 1/4$: the cause of vanishing gradients")
    assert build.in_short("slope * x for x < 0 (notes: '0.01')") == (
        r"$\mathrm{slope} \, x$ for $x < 0$ (notes: '0.01')")
    assert build.in_short("drops weights, not activations") == "drops weights, not activations"
    for table in build.registry.KINDS.values():
        for spec in table.values():
            for m in re.finditer(docmark.MATH_RE, build.in_short(spec.note)):
                docmark.tex_to_mathml(m.group(2), display=False)  # raises if it cannot


def test_cache_recomputes_only_when_the_key_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "CACHE", tmp_path)
    calls = []
    out = tmp_path / "figure.png"

    def compute():
        calls.append(1)
        out.write_bytes(b"png %d" % len(calls))
        return {"caption": len(calls)}

    assert build.cached("f", "k1", compute, (out,)) == ({"caption": 1}, False)
    out.unlink()
    assert build.cached("f", "k1", compute, (out,)) == ({"caption": 1}, True)
    assert out.read_bytes() == b"png 1" and len(calls) == 1  # the file came back from the cache
    assert build.cached("f", "k2", compute, (out,)) == ({"caption": 2}, False)
    spec = build.registry.KINDS["activation"]["relu"]
    assert build.cache_key(spec, "figures") == build.cache_key(spec, "figures")
    assert build.cache_key(spec, "figures") != build.cache_key(
        build.registry.KINDS["activation"]["elu"], "figures")


def test_every_family_has_a_story_that_its_report_supports():
    """Each story names a report, a figure it has and a verdict paragraph it still contains."""
    for (kind, slug), told in build.STORIES.items():
        page = f"{slug or kind}.md"
        text = build.story(page, told)  # raises BuildError when the report no longer says it
        assert told.why in text and "experiments/" in text


@functools.cache
def _built_site() -> Path:
    result = subprocess.run([sys.executable, str(DOCS / "build.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return SITE


@pytest.mark.slow
def test_site_builds_in_strict_mode():
    site = _built_site()
    for page in ("index.html", "activations/index.html", "activations/sigmoid-like/index.html",
                 "optimizers/index.html", "experiments/vanishing_gradient/index.html",
                 "performance/index.html", "deviations/index.html", "usage/index.html",
                 "configuration/index.html", "api/nnref.activations/index.html"):
        assert (site / page).is_file(), page
    pages = {p: p.read_text(encoding="utf-8") for p in site.rglob("index.html")}
    # every registered component has its section, and its verification, on exactly one page
    for kind, table in build.registry.KINDS.items():
        for name in table:
            homes = [p for p, html in pages.items()
                     if f"nnref.verify.run(names=[&#39;{name}&#39;]" in html
                     or f"nnref.verify.run(names=['{name}']" in html]
            assert len(homes) == 1, (kind, name, homes)
            assert f'id="{name}"' in pages[homes[0]]
    sigmoid = pages[site / "activations" / "sigmoid-like" / "index.html"]
    assert "grad_norms_at_init.png" in sigmoid and "The experiment&rsquo;s verdict" in sigmoid \
        or "The experiment's verdict" in sigmoid
    if (DOCS / "testing.md").is_file():
        assert (site / "testing" / "index.html").is_file()


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


# Measured in the page: every formula (display ones against the text column), every image.
_MEASURE = """
const column = document.querySelector('.md-content__inner') || document.body;
const right = column.getBoundingClientRect().right;
const out = {display: 0, inline: 0, hidden: 0, overflow: [], amp: [], empty: [], images: 0,
             broken: []};
for (const m of document.querySelectorAll('math')) {
  const r = m.getBoundingClientRect();
  const text = m.textContent.trim().slice(0, 80);
  if (m.closest('details:not([open])')) { out.hidden++; continue; }
  const display = m.getAttribute('display') === 'block';
  display ? out.display++ : out.inline++;
  if (!(r.width > 0 && r.height > 0)) out.empty.push(text);
  if (m.textContent.includes('&')) out.amp.push(text);
  // a block math box is as wide as the column: what overflows is its content
  const ends = Math.max(r.right, ...Array.from(m.children, c => c.getBoundingClientRect().right));
  if (display && ends > right + 1)
    out.overflow.push(`${text} (ends at ${Math.round(ends)}, the column at ${Math.round(right)})`);
}
for (const i of document.images) {
  out.images++;
  if (!i.complete || i.naturalWidth === 0) out.broken.push(i.currentSrc);
}
return out;
"""


def _site_pages(site: Path) -> list[str]:
    return sorted("" if p.parent == site else f"{p.parent.relative_to(site).as_posix()}/"
                  for p in site.rglob("index.html") if "assets" not in p.parts)


@pytest.mark.slow
def test_every_page_renders_in_chromium(browser):
    """Every page of the book in Chromium: no raw TeX, every formula laid out with a size and
    no '&' glyph, no display formula past the text column, every image loaded, no console
    error. Writes the counts to logs/docs_check/summary.json and screenshots a few pages."""
    driver, base = browser
    totals = {"pages": 0, "display": 0, "inline": 0, "hidden": 0, "images": 0}
    problems = []
    for page in _site_pages(SITE):
        driver.get_log("browser")  # drop what earlier pages logged
        driver.get(f"{base}/{page.lstrip('/')}")
        driver.execute_script("return document.fonts.ready")
        text = driver.execute_script("return document.body.innerText")
        if RAW_TEX.search(text):
            problems.append(f"{page}: raw TeX visible: {RAW_TEX.search(text).group(0)!r}")
        got = driver.execute_script(_MEASURE)
        for what in ("overflow", "amp", "empty", "broken"):
            problems += [f"{page}: {what}: {item}" for item in got[what]]
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        problems += [f"{page}: console: {e}" for e in errors]
        totals["pages"] += 1
        for key in ("display", "inline", "hidden", "images"):
            totals[key] += got[key]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "summary.json").write_text(json.dumps(totals, indent=1), encoding="utf-8")
    assert not problems, "\n".join(problems)
    assert totals["display"] > 300 and totals["images"] > 60, totals
    for page, shot, anchor in (("", "home", None), ("activations/sigmoid-like/", "sigmoid", None),
                               ("optimizers/", "optimizers_sgd", "sgd"),
                               ("optimizers/", "optimizers_adam", "adam"),
                               ("experiments/vanishing_gradient/", "experiment", None)):
        driver.get(f"{base}/{page}")
        driver.execute_script("return document.fonts.ready")
        if anchor:  # the section's first display formula: the update rule
            rule = driver.execute_script(
                "let el = document.getElementById(arguments[0]);"
                "while (el && !(el.querySelector && el.querySelector('.nnref-math')))"
                "  el = el.nextElementSibling;"
                "const m = el.querySelector('.nnref-math'); m.scrollIntoView();"
                "window.scrollBy(0, -120); return m;", anchor)  # clear of the sticky header
            rule.screenshot(str(SHOTS / f"{shot}_rule.png"))
        driver.save_screenshot(str(SHOTS / f"{shot}.png"))
