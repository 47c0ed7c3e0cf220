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
import hashlib
import http.server
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import griffe
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "build" / "docs"
PAGES = BUILD / "pages"
SITE = ROOT / "site"
CACHE = BUILD / "cache"
sys.path[:0] = [str(HERE), str(ROOT / "src")]

import docmark  # noqa: E402
import figures  # noqa: E402

import nnref  # noqa: E402
from nnref import registry, verify  # noqa: E402

# kind -> (page slug, title, one line on what the figure shows); a kind not listed here (one
# registered after this was written) gets a page under its own name all the same.
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
    "recurrent": ("recurrent", "Recurrent layers",
                  "the norm of dL/dh_t against t, from the reference's own backward"),
}
# Kinds read as one page per group of registry families: (slug, title, families). A family of
# the kind that no group names gets a page of its own.
FAMILY_PAGES = {
    "activation": [
        ("linear-and-step", "Linear and step", ("linear", "step")),
        ("sigmoid-like", "Sigmoid-like", ("sigmoid",)),
        ("rectifiers", "Rectifiers", ("rectifier",)),
        ("exponential", "Exponential linear units", ("exponential",)),
        ("smooth", "Smooth", ("smooth",)),
        ("gated", "Gated (SiLU, Swish)", ("gated",)),
        ("softmax", "Softmax", ("softmax",)),
    ],
}


@dataclass(frozen=True)
class Story:
    """Why a page's components matter: the experiment that tests the notes' claim about them.

    ``verdict`` picks the paragraph of the report's conclusion that decides the claim (the
    build fails when no paragraph contains it, so a rewritten report cannot leave a page
    quoting a verdict it no longer reaches); ``figure`` is one of the report's images.
    """

    experiment: str
    figure: str | None
    verdict: str
    why: str


# (kind, page slug) -> the story that opens the page
STORIES = {
    ("activation", "linear-and-step"): Story(
        "basics", "perceptron.png", "perceptron with the binary step",
        "The binary step is the perceptron's activation and the identity a linear model's; the "
        "basics experiment trains both on separable data and on XOR."),
    ("activation", "sigmoid-like"): Story(
        "vanishing_gradient", "grad_norms_at_init.png", "sigmoid net",
        "A derivative of at most 1/4, multiplied once per layer, is the notes' explanation of "
        "vanishing gradients; the experiment measures the first layer's gradient against the "
        "last one's as the network gets deeper."),
    ("activation", "rectifiers"): Story(
        "vanishing_gradient", "grad_norms_at_init.png", "ReLU family",
        "The rectifiers are the notes' answer to vanishing gradients: a slope of 1 for positive "
        "inputs passes the gradient through every layer unshrunk."),
    ("activation", "exponential"): Story(
        "initialization", "activation_std_at_init.png", "variance across layers",
        "SELU is built to keep each layer's activations at mean 0 and variance 1 when paired "
        "with LeCun's initializer; the experiment follows the activations' spread through 30 "
        "layers for each matched pair."),
    ("activation", "smooth"): Story(
        "activations", "activations.png", "ranked by median validation accuracy",
        "Smooth activations trade the rectifiers' kink for a derivative everywhere; the "
        "activations experiment trains the same network with each at its best learning rate."),
    ("activation", "gated"): Story(
        "activations", "deep_swish.png", "Agrees with Ramachandran",
        "Swish is the notes' choice for very deep networks (\"2x better … ≥ 40\" layers); the "
        "experiment tests it against ReLU on the paper's own terms, with batch norm on either "
        "side of the activation: the verdict turns on that placement (before the activation it "
        "does not agree; after, quoted here, it does)."),
    ("activation", "softmax"): Story(
        "basics", None, "SoftMax acts as a sigmoid",
        "Softmax turns logits into class probabilities; with two classes it is the sigmoid of "
        "the logit difference, which the basics experiment checks numerically."),
    ("loss", None): Story(
        "universal_approximation", "fits.png", "error falls with width",
        "The regression losses measure how well a network fits a function; the universal "
        "approximation experiment reports its fits in mean squared error."),
    ("init", None): Story(
        "initialization", "activation_std_at_init.png", "variance across layers",
        "Each initializer sets the weights' variance so that a signal keeps its size through "
        "the layers of the activation it is paired with."),
    ("dropout", None): Story(
        "regularization", "regularization.png", "shrink the train/val gap",
        "Dropout and DropConnect are among the notes' remedies for overfitting; the "
        "regularization experiment measures each remedy's effect on the gap between training "
        "and validation accuracy."),
    ("norm", None): Story(
        "batch_norm", "val_acc.png", "Accelerates Convergence",
        "Batch normalization's claims in the notes: faster convergence, higher learning "
        "rates, less sensitivity to the initialization."),
    ("optim", None): Story(
        "optimizers", "conditioning.png", "ill-conditioning",
        "Momentum and the adaptive methods are the notes' answer to plain gradient descent's "
        "slow progress along shallow directions."),
}
# The public modules of the API reference, in reading order; the module of a component of a kind
# registered later (nnref.recurrent) is added after these by api_modules().
API_MODULES = ["nnref", "nnref.activations", "nnref.losses", "nnref.init", "nnref.optim",
               "nnref.dropout", "nnref.normalization", "nnref.regularization", "nnref.registry",
               "nnref.swap", "nnref.verify", "nnref.experiment.surfaces"]
# Hand-written pages of the book (scripts/docs/<file>): (file, title, required); a page not
# required yet (still being written) is left out with a line saying so until it exists.
WRITTEN_PAGES = [("usage.md", "Using the library", True),
                 ("configuration.md", "Training and configuration", True),
                 ("testing.md", "Testing your own autograd Function", True),
                 ("performance.md", "Performance", True)]
# Pages of wide tables: shown without the table of contents, so the tables fit the column.
WIDE_PAGES = {"performance.md"}
WIDE = "---\nhide:\n  - toc\n---\n\n"
# The deviations table lives beside the code that reads it as the tests' allow-list.
DEVIATIONS = ROOT / "src" / "nnref" / "verify" / "deviations.md"


class BuildError(RuntimeError):
    """The book cannot be generated: the message names what is missing."""


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def write(rel: str, text: str) -> None:
    path = PAGES / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


@functools.cache
def api_modules() -> tuple[str, ...]:
    extra = {s.reference.__module__ for t in registry.KINDS.values() for s in t.values()}
    extra = {m for m in extra
             if not any(m == a or m.startswith(a + ".") for a in API_MODULES[1:])}
    return (*API_MODULES, *sorted(extra))


def public_path(obj) -> str:
    """``nnref.activations.ELU`` for ``ELU``: the first public module exporting ``obj``."""
    for mod in api_modules()[1:]:
        module = importlib.import_module(mod)
        for name in getattr(module, "__all__", ()):
            if getattr(module, name) is obj:
                return f"{mod}.{name}"
    raise BuildError(f"{obj.__module__}.{obj.__qualname__} is not exported by any module of "
                     f"the API reference ({', '.join(api_modules())})")


def breakable(path: str) -> str:
    """``path`` as inline code that a narrow table cell may break after a dot, and nowhere else
    (``torch.nn.<wbr>Identity``, never ``torch.nn.Ide|ntity``)."""
    return f"<code>{path.replace('.', '.<wbr>')}</code>"


def torch_path(obj) -> str:
    import torch

    for mod, label in ((torch.nn, "torch.nn"), (torch.nn.init, "torch.nn.init"),
                       (torch.optim, "torch.optim")):
        if getattr(mod, getattr(obj, "__name__", ""), None) is obj:
            return f"{label}.{obj.__name__}"
    return f"{obj.__module__}.{obj.__qualname__}"


def cell(text: str) -> str:
    """``text`` on one line for a Markdown table cell: a ``|`` escaped, or inside a formula
    written ``\\vert`` (an escaped one would reach the TeX as ``\\|``, a double bar)."""
    text = re.sub(r"\$[^$]+\$", lambda m: m.group(0).replace("|", r"\vert "), str(text))
    return " ".join(text.split()).replace("|", "\\|")


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


def page_link(page: str, target: str) -> str:
    """``target`` (a path under the pages root) relative to ``page``'s folder."""
    return os.path.relpath(target, os.path.dirname(page) or ".").replace(os.sep, "/")


# ---------------------------------------------------------------------------------------------
# Progress and the cache of the slow parts (verification tables, figures)
# ---------------------------------------------------------------------------------------------
def say(text: str) -> None:
    print(f"docs: {text}", flush=True)


@functools.cache
def _import_all() -> None:
    """Import every nnref module once, before any key is computed: a package's attributes
    include the submodules imported so far, so without this a key would depend on what the
    components verified before it happened to import."""
    for info in pkgutil.walk_packages(nnref.__path__, "nnref."):
        try:
            importlib.import_module(info.name)
        except ImportError:  # a module of an extra that is not installed: no component uses it
            pass


@functools.cache
def _sources(module_name: str) -> str:
    """A hash of the source files of ``module_name`` and of every nnref module it reaches through
    its globals: what a verification table or a figure of a component is computed from. The
    registry is not followed (a component's own entry is part of the key instead), so adding
    one component does not redo the others."""
    _import_all()
    seen: dict[str, Path] = {}
    todo = [importlib.import_module(module_name)]
    while todo:
        module = todo.pop()
        if module.__name__ in seen or module.__name__ in ("nnref", "nnref.registry"):
            continue
        seen[module.__name__] = Path(module.__file__)
        for value in vars(module).values():
            found = value if inspect.ismodule(value) else sys.modules.get(
                getattr(value, "__module__", None) or "")
            # a package lists every submodule imported anywhere; what it uses, it imports by
            # name (reached through those names), so its submodules are not followed as such
            own = inspect.ismodule(value) and value.__name__.startswith(module.__name__ + ".")
            if found is not None and found.__name__.split(".")[0] == "nnref" and not own:
                todo.append(found)
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode() + seen[name].read_bytes())
    return digest.hexdigest()


def _qualname(obj) -> str:
    return "-" if obj is None else f"{obj.__module__}.{obj.__qualname__}"


def _verifier_modules(kind: str) -> list[str]:
    """The modules that verify ``kind``: its checks and its cases (looked up by name at run
    time, so no import leads to them)."""
    names = [verify.VERIFIERS.get(kind, "nnref.verify"), f"nnref.verify.cases.{kind}"]
    return [n for n in names if importlib.util.find_spec(n) is not None]


def cache_key(spec: registry.Spec, *modules: str) -> str:
    import torch

    facts = (spec.kind, spec.name, _qualname(spec.reference), _qualname(spec.builtin),
             repr(sorted(spec.defaults.items())), spec.family, torch.__version__,
             nnref.__version__, sys.version)
    parts = [*map(str, facts), _sources(spec.reference.__module__), *map(_sources, modules)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def cached(name: str, key: str, compute, files: tuple[Path, ...] = ()) -> tuple[dict, bool]:
    """``compute()`` (a JSON-able dict, having written ``files``) unless the cache holds the
    result for ``key``; the files are restored from the cache on a hit. Returns (result, hit)."""
    entry = CACHE / name
    meta = entry / "meta.json"
    if meta.is_file():
        data = json.loads(meta.read_text(encoding="utf-8"))
        if data.get("key") == key and all((entry / f.name).is_file() for f in files):
            for f in files:
                shutil.copy2(entry / f.name, f)
            return data["value"], True
    value = compute()
    if entry.exists():
        shutil.rmtree(entry)
    entry.mkdir(parents=True)
    for f in files:
        shutil.copy2(f, entry / f.name)
    meta.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")
    return value, False


# ---------------------------------------------------------------------------------------------
# Component pages
# ---------------------------------------------------------------------------------------------
_IN_SHORT_WORDS = {
    "alpha": r"\alpha", "beta": r"\beta", "mu": r"\mu", "eta": r"\eta", "eps": r"\epsilon",
    "delta": r"\delta", "gamma": r"\gamma", "lambda": r"\lambda", "lr": r"\mathrm{lr}",
    "y_hat": r"\hat y", "fan_in": r"\mathrm{fan\_in}", "fan_out": r"\mathrm{fan\_out}",
    "fan": r"\mathrm{fan}", "gain": r"\mathrm{gain}", "wd": r"\mathrm{wd}",
    "val": r"\mathrm{val}", "lower": r"\mathrm{lower}", "upper": r"\mathrm{upper}",
    "MSE": r"\mathrm{MSE}", "ReLU": r"\mathrm{ReLU}", "slope": r"\mathrm{slope}",
}
_IN_SHORT_FUNCS = {"sqrt", "log", "exp", "max", "min", "sigmoid", "softplus", "logsumexp",
                   "tanh", "log_softmax", "softmax", "nll", "cross_entropy", "mean"}
_IN_SHORT_OPS = {"=": "=", "<=": r"\le", "<": "<", ">": ">", "<-": r"\leftarrow",
                 "->": r"\to", "+=": r"\mathrel{+}=", "-=": r"\mathrel{-}=", "+-": r"\pm",
                 "~": r"\sim", "*": r"\,", "/": "/", "^": "^", "+": "+", "-": "-", "|": "|"}
# a one-letter name with a prime (f'), a subscripted one (b_1), a number, a hyphenated word (one
# token, never a subtraction), an operator, a character
_IN_SHORT_TOKEN = re.compile(r"\s+|(?<![A-Za-z])[A-Za-z]'|\b[A-Za-z]_(?:\{[^}]*\}|[a-z0-9]+\b)|"
                             r"<=|<-|->|\+=|-=|\+-|"
                             r"\d+(?:\.\d+)?(?:e-?\d+)?|[A-Za-z_]\w*(?:-[A-Za-z]\w*)*|.")
_LEADS_NOT = {"*", "/", "=", "^", "<=", "<", ">", ")", "]", ",", ".", "+=", "-=", "<-", "->",
              "|"}
_ENDS_NOT = {",", ".", "(", "[", "*", "/", "=", "^", "+", "-", "<", "<=", "~"}


def _math_token(tok: str) -> bool:
    return (tok in _IN_SHORT_OPS or tok in "()[],." or tok[0].isdigit() or tok.isspace()
            or tok in _IN_SHORT_WORDS or tok in _IN_SHORT_FUNCS
            or re.fullmatch(r"[A-Za-z]'|[A-Za-z]_.+|[b-zA-Z]", tok) is not None)


def _tex(tokens: list[str]) -> str:
    out, closing = [], []
    for tok in tokens:
        if tok == "(" and out and out[-1] == r"\sqrt":
            out.append("{")
            closing.append("}")
        elif tok == "(":
            out.append("(")
            closing.append(")")
        elif tok == ")":
            out.append(closing.pop())
        elif tok in _IN_SHORT_FUNCS:
            name = tok.replace("_", r"\_")
            out.append(r"\sqrt" if tok == "sqrt" else r"\operatorname{" + name + "}")
        elif tok not in _IN_SHORT_WORDS and (m := re.fullmatch(r"([A-Za-z])_([a-z0-9]+)", tok)):
            out.append(f"{m.group(1)}_{{{m.group(2)}}}")
        else:
            out.append(_IN_SHORT_OPS.get(tok, _IN_SHORT_WORDS.get(tok, tok)))
    return "".join(out).strip()


def in_short(note: str) -> str:
    """A registry note with its formulas in TeX (``$...$``, rendered as MathML by docmark).

    Notes are one line of plain text for consoles and tables (``f' = f(1 - f) <= 1/4: ...``);
    here every run of formula tokens that holds an operator or a function call becomes inline
    math, and the prose around it stays as written.
    """
    # a quoted phrase (the notes' own wording) stays as written
    tokens = [t for part in re.split(r"((?<![A-Za-z])'[^']*')", note)
              for t in ([part] if part.startswith("'") else _IN_SHORT_TOKEN.findall(part))]
    out, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if not _math_token(tok) or tok.isspace() or tok in _LEADS_NOT or tok.startswith("'"):
            out.append(tok)
            i += 1
            continue
        j, depth = i, 0
        while j < len(tokens) and _math_token(tokens[j]):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(tokens[j], 0)
            if depth < 0 or (tokens[j] == "," and depth == 0):
                break
            j += 1
        while j > i and (tokens[j - 1].isspace() or tokens[j - 1] in _ENDS_NOT):
            j -= 1
        span = tokens[i:j]
        operates = any(t in _IN_SHORT_OPS for t in span) or any(
            t in _IN_SHORT_FUNCS and span[k + 1:k + 2] == ["("] for k, t in enumerate(span))
        balanced = all(span.count(a) == span.count(b) for a, b in ("()", "[]"))
        if operates and balanced and sum(not t.isspace() for t in span) > 1:
            out.append(f"${_tex(span)}$")
            i = j
        else:
            out.append(tok)
            i += 1
    return "".join(out)


def verification(spec: registry.Spec) -> dict:
    """The component's verification on this machine's CPU, as the page shows it: the table
    without the columns the page's heading already says (kind, name, device)."""
    rows = verify.run(names=[spec.name], kinds=[spec.kind], devices=["cpu"])
    table = [line.strip().strip("|").split("|") for line in
             verify.format_table(rows).splitlines()]
    keep = [k for k, head in enumerate(table[0]) if head.strip() not in ("kind", "name",
                                                                          "device")]
    lines = ["| " + " | ".join(row[k].strip() for k in keep) + " |" for row in table]
    return {"table": "\n".join(lines), "cases": len(rows),
            "failed": sum(not r.ok for r in rows)}


def _verification_table(table: str, passed: bool) -> str:
    """The table as the page shows it: a case's keyword arguments one breakable item each, and
    no status column when every case passed (the line above says so), so it fits the column."""
    table = re.sub(r",(?=[A-Za-z_]\w*=)", ", ", table)
    if passed:
        table = "\n".join(re.sub(r"\|[^|]*\|$", "|", line) for line in table.splitlines())
    return table


def component_section(spec: registry.Spec, page: str, stats: dict) -> str:
    ref_path = public_path(spec.reference)
    base = (breakable(torch_path(spec.builtin)) if spec.builtin is not None
            else "none: checked against an independent formula (an oracle)")
    prose, params = docstring_parts(spec.reference)
    signature = inspect.signature(spec.reference).parameters
    out = [f"## {spec.name} {{#{spec.name}}}", "",
           f"| reference | [`{ref_path}`][{ref_path}] |", "|---|---|",
           f"| torch counterpart | {base} |",
           f"| aliases | {', '.join(f'`{a}`' for a in spec.aliases) or '-'} |"]
    if spec.defaults:
        shown = []
        for k, v in spec.defaults.items():
            own = signature.get(k)
            differs = (own is not None and own.default is not inspect.Parameter.empty
                       and own.default != v)
            shown.append(f"`{k}={v!r}`" + (f" (the constructor's default, torch's, is "
                                            f"`{own.default!r}`)" if differs else ""))
        out.append("| registry defaults: what `registry.get` and the experiment configs "
                   "build it with | " + cell(", ".join(shown)) + " |")
    if spec.note:
        out += ["", '!!! note "In short, and where the lecture notes differ"', "",
                "    " + in_short(spec.note)]
    out += ["", "### Formula", "", prose]
    if params:
        out += ["", "### Arguments", "", "| argument | default | meaning |", "|---|---|---|"]
        for p in params:
            names = [n.strip() for n in p.name.split(",")]
            default = ", ".join(repr(signature[n].default) for n in names
                                if n in signature
                                and signature[n].default is not inspect.Parameter.empty)
            out.append(f"| `{p.name}` | {cell(f'`{default}`' if default else '-')} | "
                       f"{cell(p.description)} |")
    if spec.kind in figures.DRAW:
        figure = PAGES / "figures" / f"{spec.kind}_{spec.name}.png"
        fig, hit = cached(f"figure/{spec.kind}.{spec.name}",
                          cache_key(spec, "figures"),
                          lambda: {"caption": figures.DRAW[spec.kind](spec, figure)}, (figure,))
        stats["figures"] += 1
        stats["figures cached"] += hit
        caption = cell(fig["caption"])
        out += ["", "### Figure", "",
                f'<figure markdown="span">\n![{spec.name}: {caption}]'
                f"({page_link(page, f'figures/{figure.name}')})\n"
                f"<figcaption>{caption}</figcaption>\n</figure>"]
    parts = source_closure(spec.reference)
    names = ", ".join(f"`{o.__name__}`" for o in parts)
    file = Path(sys.modules[spec.reference.__module__].__file__).relative_to(ROOT / "src")
    out += ["", "### Source", "", f'??? abstract "{names} ({file})"', ""]
    for o in parts:
        code = textwrap.dedent(inspect.getsource(o)).rstrip()
        out += ["    ```python", textwrap.indent(code, "    "), "    ```", ""]
    start = time.perf_counter()
    checked, hit = cached(f"verify/{spec.kind}.{spec.name}",
                          cache_key(spec, "nnref.verify", *_verifier_modules(spec.kind)),
                          lambda: verification(spec))
    stats["verified"] += 1
    stats["verified cached"] += hit
    if not hit:
        say(f"  verified {spec.kind} {spec.name}: {checked['cases']} cases "
            f"({time.perf_counter() - start:.1f} s)")
    verdict = (("its one case passes" if checked["cases"] == 1 else
                f"all {checked['cases']} cases pass") if not checked["failed"]
               else f"**{checked['failed']} of {checked['cases']} cases fail**")
    out += ["", "### Verified on the machine that built this page", "",
            f"`nnref.verify.run(names=[{spec.name!r}], devices=['cpu'])`: {verdict}.", "",
            _verification_table(checked["table"], checked["failed"] == 0), ""]
    return "\n".join(out)


def _paragraphs(markdown: str, heading: str) -> list[str]:
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |^---|\Z)", markdown, re.M | re.S)
    return [p.strip() for p in m.group(1).split("\n\n") if p.strip()] if m else []


def story(page: str, told: Story) -> str:
    """The opening of a component page: the notes' claim, the experiment's figure and verdict."""
    readme = ROOT / "experiments" / told.experiment / "README.md"
    if not readme.is_file():
        raise BuildError(f"{page}: its story's experiment {told.experiment!r} has no report")
    text = readme.read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", text, re.M).group(1)
    claim = _paragraphs(text, "Question")
    verdict = [p for p in _paragraphs(text, "Conclusion") if told.verdict in p]
    if not claim or not verdict:
        raise BuildError(f"{page}: experiments/{told.experiment}/README.md has no "
                         + ("'## Question' paragraph" if not claim else
                            f"conclusion paragraph containing {told.verdict!r}"))
    link = page_link(page, f"experiments/{told.experiment}/index.md")
    out = ['!!! quote "What the lecture notes claim, and the experiment that tests it"', "",
           textwrap.indent(claim[0], "    "), "", f"    {told.why}" if told.why else "", ""]
    if told.figure:
        if not (readme.parent / told.figure).is_file():
            raise BuildError(f"{page}: experiments/{told.experiment}/{told.figure} is missing")
        src = page_link(page, f"experiments/{told.experiment}/{told.figure}")
        out += [f'<figure markdown="span">\n![{title}]({src})\n'
                f"<figcaption>From the experiment <a href=\"{link[:-len('index.md')]}\">"
                f"{title}</a>.</figcaption>\n</figure>", ""]
    out += [f"**The experiment's verdict** ([{title}]({link})): {verdict[0]}", ""]
    return "\n".join(out)


def _own_experiment(slug: str) -> Story | None:
    """The story of a kind no entry of STORIES tells yet, when an experiment of the same name
    has a report (experiments/recurrent for the recurrent layers): its first figure and its
    first verdict."""
    readme = ROOT / "experiments" / slug / "README.md"
    if not readme.is_file():
        return None
    figure = re.search(r"!\[[^\]]*\]\(([^)/]+\.png)\)", readme.read_text(encoding="utf-8"))
    return Story(slug, figure.group(1) if figure else None, "**", "")


def _index_table(specs: list[registry.Spec], where: dict[str, str]) -> str:
    """A table of ``specs``, each linked to its section (on the page ``where[name]``)."""
    rows = ["| name | torch counterpart | family | in short |", "|---|---|---|---|"]
    rows += [f"| [{s.name}]({where.get(s.name, '')}#{s.name}) | "
             f"{breakable(torch_path(s.builtin)) if s.builtin is not None else 'oracle'} | "
             f"{s.family or '-'} | {cell(in_short(s.note))} |" for s in specs]
    return "\n".join(rows)


def component_pages() -> list[dict]:
    nav = []
    for kind, table in registry.KINDS.items():
        slug, title, shows = KIND_PAGES.get(kind, (kind, kind.replace("_", " ").capitalize(),
                                                   None))
        start = time.perf_counter()
        stats = dict.fromkeys(("figures", "figures cached", "verified", "verified cached"), 0)
        specs = list(table.values())
        what = ("one section each: the registry's entry, the formula from the docstring, the "
                "arguments, " + (f"a figure made by nnref at build time ({shows}), "
                                 if kind in figures.DRAW else "")
                + "the source, and the verification against torch run on the machine that "
                "built the page.")
        groups = list(FAMILY_PAGES.get(kind, []))
        grouped = {f for _, _, families in groups for f in families}
        groups += [(f, f.replace("_", " ").capitalize(), (f,))
                   for f in dict.fromkeys(s.family for s in specs) if f not in grouped]
        if kind not in FAMILY_PAGES:
            page = f"{slug}.md"
            opening = STORIES.get((kind, None)) or _own_experiment(slug)
            write(page, "\n\n".join([
                f"# {title}",
                story(page, opening) if opening else "",
                f"{len(specs)} components of kind `{kind}`, {what}",
                _index_table(specs, {}),
                *(component_section(s, page, stats) for s in specs)]))
            nav.append({title: page})
        else:
            home = {s.name: f"{slug}/{g}.md" for g, _, fams in groups for s in specs
                    if s.family in fams}
            pages = [{"Overview": f"{slug}/index.md"}]
            overview = [f"# {title}",
                        f"{len(specs)} components of kind `{kind}`, one page per family; each "
                        "page opens with what the lecture notes claim about the family and the "
                        f"experiment that tests it, then has {what.split(', ', 1)[1]}"]
            for g, g_title, fams in groups:
                members = [s for s in specs if s.family in fams]
                if not members:
                    continue
                page = f"{slug}/{g}.md"
                opening = STORIES.get((kind, g))
                write(page, "\n\n".join([
                    f"# {g_title}",
                    story(page, opening) if opening else "",
                    f"{len(members)} of the {len(specs)} {title.lower()}: "
                    + ", ".join(f"[{s.name}](#{s.name})" for s in members) + ".",
                    *(component_section(s, page, stats) for s in members)]))
                pages.append({g_title: page})
                overview.append(f"- [{g_title}]({g}.md): "
                                + ", ".join(s.name for s in members))
            overview.append(_index_table(specs, {
                n: page_link(f"{slug}/index.md", p) for n, p in home.items()}))
            write(f"{slug}/index.md", "\n\n".join(overview))
            nav.append({title: pages})
        say(f"{title}: {len(specs)} components, {stats['verified']} verification tables "
            f"({stats['verified cached']} from the cache), {stats['figures']} figures "
            f"({stats['figures cached']} from the cache) — {time.perf_counter() - start:.1f} s")
    return nav


def _verdicts(text: str) -> list[str]:
    """The verdicts of a report's conclusion: each paragraph's bold label and first clause."""
    out = []
    for para in _paragraphs(text, "Conclusion"):
        if m := re.match(r"\*\*(.+?):\*\*\s*(.*)", para, re.S):
            first = re.split(r"(?<=[^.\d][.;:])\s", " ".join(m.group(2).split()), maxsplit=1)[0]
            out.append(f"**{m.group(1)}:** {first.rstrip(':;')}")
    return out


def experiment_pages() -> list[dict]:
    nav = [{"Overview": "experiments/index.md"}]
    rows = ["| experiment | figure | verdicts of its report |", "|---|---|---|"]
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
        figure = re.search(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
        rows.append(f"| [{title.group(1)}]({name}/index.md) | "
                    + (f"![{title.group(1)}]({name}/{figure.group(1)}){{ width=220 }}"
                       if figure else "-") + " | "
                    + cell("<br>".join(_verdicts(text)) or "-") + " |")
        nav.append({title.group(1): f"experiments/{name}/index.md"})
    intro = (HERE / "experiments.md").read_text(encoding="utf-8")
    write("experiments/index.md", "\n\n".join([intro, "\n".join(rows)]))
    return nav


def readme_block(name: str) -> str:
    """The README's code block that starts with ``# name`` (``my_acts.py``): shown by a page of
    the book as well, kept in one place (the README, whose blocks other tests run)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^```\w*\n# {re.escape(name)}\n.*?^```$", readme, re.M | re.S)
    if not m:
        raise BuildError(f"README.md has no code block starting with '# {name}'")
    return m.group(0)


def written_pages() -> list[dict]:
    """The hand-written pages (scripts/docs/*.md) and the deviations table (read from where the
    tests read it)."""
    nav = []
    for name, title, required in WRITTEN_PAGES:
        path = HERE / name
        if not path.is_file():
            if required:
                raise BuildError(f"scripts/docs/{name} ({title}) is missing")
            say(f"{name} not written yet: the book has no page {title!r}")
            continue
        text = re.sub(r"^\{\{ README: (\S+) \}\}$", lambda m: readme_block(m.group(1)),
                      path.read_text(encoding="utf-8"), flags=re.M)
        write(name, WIDE + text if name in WIDE_PAGES else text)
        nav.append({title: name})
    if not DEVIATIONS.is_file():
        raise BuildError(f"{DEVIATIONS.relative_to(ROOT)} is missing")
    write("deviations.md", WIDE + DEVIATIONS.read_text(encoding="utf-8"))
    nav.append({"Deviations from torch": "deviations.md"})
    return nav


def api_pages() -> list[dict]:
    undocumented = []
    for mod in api_modules():
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
    for mod in api_modules():
        write(f"api/{mod}.md", f"::: {mod}\n")
        nav.append({mod: f"api/{mod}.md"})
    return nav


def home_page() -> list[dict]:
    counts = ", ".join(f"{len(t)} {KIND_PAGES.get(k, (k, k + 's'))[1].lower()}"
                       for k, t in registry.KINDS.items())
    text = (HERE / "home.md").read_text(encoding="utf-8").replace("{{ counts }}", counts)
    write("index.md", text)
    return [{"Home": "index.md"}]


def generate() -> list:
    if PAGES.exists():
        shutil.rmtree(PAGES)
    (PAGES / "figures").mkdir(parents=True)
    (PAGES / "assets").mkdir()
    shutil.copy2(HERE / "book.css", PAGES / "assets" / "book.css")
    nav = []
    for label, make, wrap in (("home page", home_page, None),
                              ("component pages", component_pages, "Components"),
                              ("experiment pages", experiment_pages, "Experiments"),
                              ("written pages", written_pages, None),
                              ("API reference", api_pages, "API reference")):
        start = time.perf_counter()
        made = make()
        nav += [{wrap: made}] if wrap else made
        say(f"{label}: {sum(1 for _ in _nav_pages(made))} pages — "
            f"{time.perf_counter() - start:.1f} s")
    return nav


def _nav_pages(nav: list):
    for item in nav:
        for value in item.values():
            yield from _nav_pages(value) if isinstance(value, list) else [value]


def build(nav: list) -> None:
    config = yaml.safe_load((HERE / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(PAGES), site_dir=str(SITE), nav=nav)
    config["plugins"][2]["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT / "src")]
    cfg = BUILD / "mkdocs.yml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=os.pathsep.join(
        [str(HERE), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    say("mkdocs build --strict ...")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f",
                    str(cfg)], check=True, env=env, cwd=ROOT)
    say(f"mkdocs: {time.perf_counter() - start:.1f} s")


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
    say(f"generating the pages into {PAGES.relative_to(ROOT)} (verification tables and figures "
        f"are cached in {CACHE.relative_to(ROOT)}, keyed by the source they come from)")
    try:
        nav = generate()
    except BuildError as exc:
        say(str(exc))
        return 1
    try:
        build(nav)
    except subprocess.CalledProcessError as exc:
        say("mkdocs build --strict failed (see its warnings above)")
        return exc.returncode or 1
    say(f"built {SITE.relative_to(ROOT)}/ in {time.perf_counter() - start:.0f} s")
    if args.serve:
        serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
