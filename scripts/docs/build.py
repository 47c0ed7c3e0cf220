"""Generate nnref's book from the code and build it with MkDocs in strict mode.

Every page is written at build time from what the project already holds, so the book cannot
drift from it: the registry (one section per registered component), the docstrings (formula,
where the notes differ, arguments; and the API reference through mkdocstrings), the source of
each reference, ``nnref.verify.run`` on this machine, figures drawn by nnref itself, the
experiments' reports and the README's benchmark and deviations tables.

    python scripts/docs/build.py           # pages into build/docs/pages, the site into site/
    python scripts/docs/build.py --serve   # then serve site/ on http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import ast
import functools
import http.server
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import griffe
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "build" / "docs"
PAGES = BUILD / "pages"
SITE = ROOT / "site"
sys.path[:0] = [str(HERE), str(ROOT / "src")]

import docmark  # noqa: E402
import figures  # noqa: E402

from nnref import registry, verify  # noqa: E402

# kind -> (page slug, title, one line on what the figure shows)
KIND_PAGES = {
    "activation": ("activations", "Activations",
                   "f and f′ from the reference's own forward and backward, torch's dashed"),
    "loss": ("losses", "Losses", "the loss and its gradient against the prediction"),
    "init": ("initializers", "Initializers",
             "a drawn weight's histogram against the target density"),
    "dropout": ("dropout", "Dropout",
                "the distribution before and after, in training and in eval"),
    "norm": ("normalization", "Batch normalization",
             "each channel's distribution before and after"),
    "optim": ("optimizers", "Optimizers", "a trajectory on a test surface, torch's dashed"),
}
# The public modules of the API reference, in reading order.
API_MODULES = ["nnref", "nnref.activations", "nnref.losses", "nnref.init", "nnref.optim",
               "nnref.dropout", "nnref.normalization", "nnref.regularization", "nnref.registry",
               "nnref.swap", "nnref.verify", "nnref.experiment.surfaces"]
# README sections the book shows as they are: (heading, page, title)
README_SECTIONS = [("Benchmarks", "performance.md", "Performance"),
                   ("Deviations from torch", "deviations.md", "Deviations from torch")]


class BuildError(RuntimeError):
    """The book cannot be generated: the message names what is missing."""


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def write(rel: str, text: str) -> None:
    path = PAGES / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def public_path(obj) -> str:
    """``nnref.activations.ELU`` for ``ELU``: the first public module exporting ``obj``."""
    for mod in API_MODULES[1:]:
        module = importlib.import_module(mod)
        for name in getattr(module, "__all__", ()):
            if getattr(module, name) is obj:
                return f"{mod}.{name}"
    raise BuildError(f"{obj.__module__}.{obj.__qualname__} is not exported by any module of "
                     f"the API reference ({', '.join(API_MODULES)})")


def torch_path(obj) -> str:
    import torch

    for mod, label in ((torch.nn, "torch.nn"), (torch.nn.init, "torch.nn.init"),
                       (torch.optim, "torch.optim")):
        if getattr(mod, getattr(obj, "__name__", ""), None) is obj:
            return f"{label}.{obj.__name__}"
    return f"{obj.__module__}.{obj.__qualname__}"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def docstring_parts(obj) -> tuple[str, list[griffe.DocstringParameter]]:
    """The docstring's prose (as Markdown, before its first section) and its Args entries."""
    raw = inspect.cleandoc(obj.__doc__ or "")
    if not raw:
        raise BuildError(f"{obj.__module__}.{obj.__qualname__} has no docstring")
    sections = griffe.Docstring(docmark.rst_to_markdown(raw), lineno=1).parse(
        "google", warn_missing_types=False)
    prose = "\n\n".join(s.value for s in sections if s.kind is griffe.DocstringSectionKind.text)
    params = [p for s in sections if s.kind is griffe.DocstringSectionKind.parameters
              for p in s.value]
    return prose, params


def source_closure(obj) -> list:
    """``obj`` and every function or class of its own module it reaches by name, in source
    order: for a module class, its functional form and its ``autograd.Function``."""
    module = sys.modules[obj.__module__]
    seen: dict[str, object] = {}
    todo = [obj]
    while todo:
        item = todo.pop()
        if item.__name__ in seen:
            continue
        seen[item.__name__] = item
        tree = ast.parse(textwrap.dedent(inspect.getsource(item)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                found = getattr(module, node.id, None)
                if ((inspect.isfunction(found) or inspect.isclass(found))
                        and getattr(found, "__module__", None) == module.__name__):
                    todo.append(found)
    return sorted(seen.values(), key=lambda o: inspect.getsourcelines(o)[1])


def section(heading: str) -> str:
    """The body of the README's ``## heading`` section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if not m:
        raise BuildError(f"README.md has no '## {heading}' section, which the book shows")
    return m.group(1).strip()


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------
def component_section(spec: registry.Spec, slug: str) -> str:
    ref_path = public_path(spec.reference)
    base = (f"`{torch_path(spec.builtin)}`" if spec.builtin is not None
            else "none: checked against an independent formula (an oracle)")
    prose, params = docstring_parts(spec.reference)
    out = [f"## {spec.name} {{#{spec.name}}}", "",
           "| | |", "|---|---|",
           f"| reference | [`{ref_path}`][{ref_path}] |",
           f"| torch counterpart | {base} |",
           f"| aliases | {', '.join(f'`{a}`' for a in spec.aliases) or '-'} |",
           f"| family | {spec.family or '-'} |"]
    if spec.defaults:
        out.append("| registry defaults | "
                   + cell(", ".join(f"`{k}={v!r}`" for k, v in spec.defaults.items())) + " |")
    if spec.note:
        out += ["", '!!! note "In short, and where the lecture notes differ"', "",
                "    " + spec.note]
    out += ["", "### Formula", "", prose]
    if params:
        signature = inspect.signature(spec.reference).parameters
        out += ["", "### Arguments", "", "| argument | default | meaning |", "|---|---|---|"]
        for p in params:
            names = [n.strip() for n in p.name.split(",")]
            default = ", ".join(repr(signature[n].default) for n in names
                                if n in signature
                                and signature[n].default is not inspect.Parameter.empty)
            out.append(f"| `{p.name}` | {cell(f'`{default}`' if default else '-')} | "
                       f"{cell(p.description)} |")
    figure = f"{spec.kind}_{spec.name}.png"
    caption = figures.DRAW[spec.kind](spec, PAGES / "figures" / figure)
    out += ["", "### Figure", "",
            f'<figure markdown="span">\n![{spec.name}: {cell(caption)}](figures/{figure})\n'
            f"<figcaption>{cell(caption)}</figcaption>\n</figure>"]
    parts = source_closure(spec.reference)
    names = ", ".join(f"`{o.__name__}`" for o in parts)
    file = Path(sys.modules[spec.reference.__module__].__file__).relative_to(ROOT / "src")
    out += ["", "### Source", "", f'??? abstract "{names} ({file})"', ""]
    for o in parts:
        code = textwrap.dedent(inspect.getsource(o)).rstrip()
        out += ["    ```python", textwrap.indent(code, "    "), "    ```", ""]
    rows = verify.run(names=[spec.name], kinds=[spec.kind], devices=["cpu"])
    failed = [r for r in rows if not r.ok]
    verdict = (f"all {len(rows)} cases pass" if not failed
               else f"**{len(failed)} of {len(rows)} cases fail**")
    out += ["", "### Verified on the machine that built this page", "",
            f"`nnref.verify.run(names=[{spec.name!r}], devices=['cpu'])`: {verdict}.", "",
            verify.format_table(rows), ""]
    return "\n".join(out)


def component_pages() -> list[dict]:
    nav = []
    for kind, table in registry.KINDS.items():
        if kind not in KIND_PAGES:
            raise BuildError(f"registry kind {kind!r} has no page in KIND_PAGES")
        slug, title, shows = KIND_PAGES[kind]
        index = ["| name | torch counterpart | family | note |", "|---|---|---|---|"]
        index += [f"| [{s.name}](#{s.name}) | "
                  f"{f'`{torch_path(s.builtin)}`' if s.builtin is not None else 'oracle'} | "
                  f"{s.family or '-'} | {cell(s.note)} |" for s in table.values()]
        sections = [component_section(s, slug) for s in table.values()]
        write(f"{slug}.md", "\n\n".join([
            f"# {title}",
            f"{len(table)} components of kind `{kind}`, one section each: the registry's entry, "
            "the formula from the docstring, the arguments, a figure made by nnref at build "
            f"time ({shows}), the source, and the verification against torch run on the "
            "machine that built this page.",
            "\n".join(index), *sections]))
        nav.append({title: f"{slug}.md"})
    return nav


def experiment_pages() -> list[dict]:
    nav = [{"Overview": "experiments/index.md"}]
    rows = ["| experiment | question |", "|---|---|"]
    for readme in sorted((ROOT / "experiments").glob("*/README.md")):
        name = readme.parent.name
        text = readme.read_text(encoding="utf-8")
        title = re.search(r"^# (.+)$", text, re.M)
        if not title:
            raise BuildError(f"{readme.relative_to(ROOT)} has no '# title' line")
        target = PAGES / "experiments" / name
        target.mkdir(parents=True, exist_ok=True)
        for png in readme.parent.glob("*.png"):
            shutil.copy2(png, target / png.name)
        write(f"experiments/{name}/index.md", text)
        question = re.search(r"^## Question\s*$\s*(.+?)$", text, re.M)
        rows.append(f"| [{title.group(1)}]({name}/index.md) | "
                    f"{cell(question.group(1)) if question else '-'} |")
        nav.append({title.group(1): f"experiments/{name}/index.md"})
    write("experiments/index.md", "\n\n".join([
        "# Experiments",
        "Each experiment of the lecture notes is a Hydra sweep and a report that decides from "
        "its numbers whether the notes' claim held: `bash scripts/run_experiments.sh <name>`. "
        "The pages below are the reports as last committed (`experiments/<name>/README.md`).",
        "\n".join(rows)]))
    return nav


def readme_pages() -> list[dict]:
    nav = []
    for heading, page, title in README_SECTIONS:
        body = section(heading)
        # links from the README's folder become links between the book's pages
        body = re.sub(r"\]\(experiments/([\w-]+)/README\.md\)", r"](experiments/\1/index.md)",
                      body)
        write(page, f"# {title}\n\nFrom the README's section *{heading}*.\n\n{body}")
        nav.append({title: page})
    return nav


def api_pages() -> list[dict]:
    undocumented = []
    for mod in API_MODULES:
        module = importlib.import_module(mod)
        if not module.__doc__:
            undocumented.append(mod)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not obj.__doc__:
                undocumented.append(f"{mod}.{name}")
    if undocumented:
        raise BuildError("public names without a docstring: " + ", ".join(undocumented))
    nav = []
    for mod in API_MODULES:
        write(f"api/{mod}.md", f"::: {mod}\n")
        nav.append({mod: f"api/{mod}.md"})
    return nav


def home_page() -> None:
    counts = ", ".join(f"{len(t)} {KIND_PAGES[k][1].lower()}" for k, t in registry.KINDS.items())
    text = (HERE / "home.md").read_text(encoding="utf-8").replace("{{ counts }}", counts)
    write("index.md", text)


def generate() -> list:
    if PAGES.exists():
        shutil.rmtree(PAGES)
    (PAGES / "figures").mkdir(parents=True)
    (PAGES / "assets").mkdir()
    shutil.copy2(HERE / "book.css", PAGES / "assets" / "book.css")
    kinds = component_pages()
    home_page()
    return [{"Home": "index.md"}, {"Components": kinds},
            {"Experiments": experiment_pages()}, *readme_pages(),
            {"API reference": api_pages()}]


def build(nav: list) -> None:
    config = yaml.safe_load((HERE / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(PAGES), site_dir=str(SITE), nav=nav)
    config["plugins"][2]["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT / "src")]
    cfg = BUILD / "mkdocs.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(
        [str(HERE), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f",
                    str(cfg)], check=True, env=env, cwd=ROOT)


def serve(port: int) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {SITE} on http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve the site after building")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        nav = generate()
    except BuildError as exc:
        print(f"docs: {exc}", file=sys.stderr)
        return 1
    try:
        build(nav)
    except subprocess.CalledProcessError as exc:
        print("docs: mkdocs build --strict failed (see its warnings above)", file=sys.stderr)
        return exc.returncode or 1
    print(f"docs: built {SITE} in {time.perf_counter() - start:.0f} s", flush=True)
    if args.serve:
        serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
