"""Markup glue for the book: nnref's docstrings are written in torch's layout (reStructuredText
roles and directives inside Google-style sections), while MkDocs renders Markdown.

- :func:`rst_to_markdown` rewrites the reST the docstrings use into Markdown (math as ``$...$``
  and ``$$...$$``, roles as code spans, literal blocks as fenced code);
- :class:`RstToMarkdown` applies it to every docstring griffe loads for mkdocstrings;
- :class:`MathMLExtension` (``markdown_extensions: [docmark]``) turns ``$...$`` into MathML at
  build time, so formulas render in the browser with no script and no network.

A formula latex2mathml cannot convert is logged as a MkDocs warning, which fails the strict
build instead of leaving raw TeX on a page.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import textwrap
import xml.etree.ElementTree as etree

import griffe
from latex2mathml.converter import convert
from markdown import Extension
from markdown.inlinepatterns import InlineProcessor

log = logging.getLogger("mkdocs.plugins.nnref.docmark")

_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_LITERAL = re.compile(r"^(\s*)(?!\.\. )(.*?)::\s*$")
# Section headers griffe's Google parser understands; any other ``Title:`` line with an indented
# block under it (torch's ``Shape:``) would otherwise render as a code block.
_GOOGLE = {"Args", "Arguments", "Parameters", "Params", "Returns", "Return", "Raises",
           "Raise", "Yields", "Yield", "Attributes", "Note", "Notes", "Warning", "Warnings",
           "Warns", "Examples", "Example", "Receives", "Other Parameters", "Methods",
           "Functions", "Classes", "Modules", "Keyword Args", "Keyword Arguments"}
_HEADER = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|py:\w+):`(~?)([^`]+)`")
_INLINE_MATH = re.compile(r":math:`([^`]*)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The lines from ``start`` that are blank or indented deeper than ``indent``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():  # trailing blanks belong to the parent
        end -= 1
    return lines[start:end], end


def _role(m: re.Match) -> str:
    target = m.group(2)
    return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"


def _dollars(m: re.Match) -> str:
    return "$" + " ".join(m.group(1).split()) + "$"


def rst_to_markdown(text: str) -> str:
    """Markdown for a docstring written with the reST constructs nnref uses."""
    # roles first, on the whole text: a role may wrap onto the next line
    lines = _ROLE.sub(_role, _INLINE_MATH.sub(_dollars, text)).splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _MATH_DIRECTIVE.match(line):
            pad = m.group(1)
            body, i = _block(lines, i + 1, len(pad))
            # as in reST, a blank line inside the directive starts another equation
            for eq in "\n".join((m.group(2), *body)).strip().split("\n\n"):
                tex = " ".join(part.strip() for part in eq.splitlines() if part.strip())
                if tex:
                    out += ["", f"{pad}$${tex}$$", ""]
            continue
        nxt = next((ln for ln in lines[i + 1:] if ln.strip()), "")
        deeper = bool(nxt) and _indent(nxt) > _indent(line)
        if (m := _LITERAL.match(line)) and deeper:
            pad, lead = m.groups()
            body, i = _block(lines, i + 1, len(pad))
            code = textwrap.dedent("\n".join(body)).strip("\n").splitlines()
            # "Examples::" must not open a Google section: the code is already fenced here
            title = f"**{lead.strip()}**" if lead.strip() in _GOOGLE else lead + ":"
            out += [pad + title if lead.strip() else "", "", pad + "```python",
                    *(pad + c if c else "" for c in code), pad + "```", ""]
            continue
        if (m := _HEADER.match(line)) and deeper and m.group(2) not in _GOOGLE:
            pad = m.group(1)
            body, i = _block(lines, i + 1, len(pad))
            inner = rst_to_markdown(textwrap.dedent("\n".join(body)))
            out += [f"{pad}**{m.group(2)}**", "",
                    *(pad + c if c else "" for c in inner.splitlines()), ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Griffe extension: every docstring mkdocstrings renders goes through
    :func:`rst_to_markdown` before the Google-style parser splits it into sections."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None and obj.is_class:
            # a class may set ``__doc__ = r"""..."""`` in its body (to share text between
            # classes); griffe reads source only, so take the docstring Python built
            runtime = _runtime_doc(obj.path)
            if runtime:
                obj.docstring = griffe.Docstring(inspect.cleandoc(runtime), parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)


def _runtime_doc(path: str) -> str | None:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name).__doc__
    except (ImportError, AttributeError):
        return None


MATHML = "http://www.w3.org/1998/Math/MathML"
etree.register_namespace("", MATHML)
# MathML Core (https://w3c.github.io/mathml-core/): what Chromium lays out. Anything else
# (MathML 3's linebreak, columnalign, mathvariant other than normal) is ignored there, so the
# formula would look right in one browser and wrong in another: the build refuses it.
CORE_ELEMENTS = {
    "math", "annotation", "annotation-xml", "maction", "merror", "mfrac", "mi", "mmultiscripts",
    "mn", "mo", "mover", "mpadded", "mphantom", "mprescripts", "mroot", "mrow", "ms", "mspace",
    "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder",
    "munderover", "none", "semantics"}
_GLOBAL_ATTRS = {"xmlns", "class", "id", "style", "dir", "displaystyle", "mathbackground",
                 "mathcolor", "mathsize", "scriptlevel"}
CORE_ATTRIBUTES = {
    "math": {"display"}, "mi": {"mathvariant"}, "mfrac": {"linethickness"},
    "mo": {"form", "fence", "separator", "lspace", "rspace", "stretchy", "symmetric", "maxsize",
           "minsize", "largeop", "movablelimits"},
    "mover": {"accent"}, "munder": {"accentunder"}, "munderover": {"accent", "accentunder"},
    "mspace": {"width", "height", "depth"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "mtd": {"columnspan", "rowspan"}, "maction": {"actiontype", "selection"},
}
# latex2mathml's MathML-3 styling, as the CSS that MathML Core reads instead
_VARIANT_CSS = {"bold": "font-weight: bold", "italic": "font-style: italic",
                "bold-italic": "font-weight: bold; font-style: italic",
                "monospace": "font-family: monospace"}
_ALIGN_CSS = {"left": "text-align: left", "right": "text-align: right",
              "center": "text-align: center"}
_PRIMES = {"\u2032", "\u2033", "\u2034"}
_ALIGNED = re.compile(r"\\begin\{aligned\}((?:(?!\\begin\{aligned\}).)*?)\\end\{aligned\}",
                      re.S)
_NESTED = re.compile(r"\\begin\{(\w+)\}.*?\\end\{\1\}", re.S)


def _aligned_to_array(tex: str) -> str:
    """TeX's ``aligned`` as an ``array`` of alternately right- and left-aligned columns.

    latex2mathml turns ``aligned`` into one row with its ``&`` kept as identifiers and MathML 3
    line breaks, which Chromium draws as a single line of ``&`` glyphs; an ``array`` becomes an
    ``mtable``, whose rows and cells every MathML Core browser lays out.
    """
    while m := _ALIGNED.search(tex):
        body = re.sub(r"\\\\\[[^\]]*\]", r"\\\\", m.group(1))  # \\[2pt]: a row gap
        flat = _NESTED.sub("", body)  # a nested cases' & and \\ belong to it
        cols = 1 + max(row.count("&") for row in flat.split("\\\\"))
        spec = ("rl" * cols)[:cols]
        tex = f"{tex[:m.start()]}\\begin{{array}}{{{spec}}}{body}\\end{{array}}{tex[m.end():]}"
    return tex


def _to_core(root: etree.Element, tex: str) -> None:
    """Rewrite latex2mathml's MathML-3 attributes as MathML Core (in place); raise
    ``ValueError`` on an element or attribute Core does not have."""
    for el in list(root.iter()):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag not in CORE_ELEMENTS:
            raise ValueError(f"TeX {tex!r}: <{tag}> is not MathML Core")
        if tag in ("mover", "munder"):  # \overline's accent belongs on the script, not its mo
            where = "accent" if tag == "mover" else "accentunder"
            for mo in el[1:]:
                if mo.attrib.pop("accent", None) == "true":
                    el.set(where, "true")
        css = []
        if (align := el.attrib.pop("columnalign", None)) is not None and tag == "mtd":
            css.append(_ALIGN_CSS[align])
        variant = el.attrib.get("mathvariant")
        if variant is not None and not (tag == "mi" and variant == "normal"):
            if variant not in _VARIANT_CSS:
                raise ValueError(f"TeX {tex!r}: mathvariant={variant!r} is not MathML Core")
            css.append(_VARIANT_CSS[el.attrib.pop("mathvariant")])
        if css:
            el.set("style", "; ".join(filter(None, [el.get("style"), *css])))
        allowed = _GLOBAL_ATTRS | CORE_ATTRIBUTES.get(tag, set())
        if bad := sorted(set(el.attrib) - allowed):
            raise ValueError(f"TeX {tex!r}: <{tag} {' '.join(bad)}> is not MathML Core")
        # f' is msup(f, prime); a prime glyph already sits high, so raising it again leaves it
        # floating above the letter: set it beside the base instead, with no operator spacing
        if tag == "msup" and len(el) == 2 and el[1].text and set(el[1].text) <= _PRIMES:
            prime = etree.Element(f"{{{MATHML}}}mo", lspace="0", rspace="0")
            prime.text = el[1].text
            el.tag = f"{{{MATHML}}}mrow"
            el.remove(el[1])
            el.append(prime)


def _top_level_parts(tex: str) -> list[str]:
    """``tex`` cut at each ``\\qquad`` outside braces and environments: the separate equations
    of one display (a function and its derivative), each then set on a line of its own so a
    display never runs wider than the text column."""
    parts, depth, start = [], 0, 0
    for m in re.finditer(r"\\(begin|end)\{\w+\*?\}|(?<!\\)[{}]|\\qquad\b", tex):
        token = m.group(0)
        if token == "{" or m.group(1) == "begin":
            depth += 1
        elif token == "}" or m.group(1) == "end":
            depth -= 1
        elif depth == 0:
            parts.append(tex[start:m.start()])
            start = m.end()
    parts.append(tex[start:])
    return [p.strip() for p in parts if p.strip()]


def tex_to_mathml(tex: str, display: bool) -> str:
    """MathML Core for ``tex`` (a display formula's separate equations one per line); raises
    ``ValueError`` when it cannot be converted faithfully."""
    if display:
        # spans (styled as blocks) stay valid HTML inside the paragraph Markdown wraps them in
        lines = [f'<span class="nnref-line">{_one_formula(part, True)}</span>'
                 for part in _top_level_parts(tex)]
        return f'<span class="nnref-math">{"".join(lines)}</span>'
    return _one_formula(tex, False)


def _one_formula(tex: str, display: bool) -> str:
    try:
        mathml = convert(_aligned_to_array(tex).replace("\\|", "\\Vert "),
                         display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own exception types, one per syntax error
        raise ValueError(f"cannot convert TeX {tex!r}: {type(exc).__name__}: {exc}") from exc
    if "<merror" in mathml:
        raise ValueError(f"cannot convert TeX {tex!r}: latex2mathml produced an error node")
    if re.search(r">\s*&\s*<", mathml):
        raise ValueError(f"cannot convert TeX {tex!r}: a stray alignment mark '&' (outside an "
                         "aligned, cases or array environment) would be drawn as a glyph")
    # latex2mathml leaves TeX's escaped characters as written inside \text{...} (fan\_in)
    mathml = re.sub(r"\\([_%#$])", r"\1", mathml).replace("\\&", "&amp;")
    mathml = mathml.replace(">\\Vert<", ">\u2016<")  # \Big\| (a sized norm bar)
    # and keeps a command it does not know as text, which would show raw TeX
    if unknown := re.search(r">([^<]*\\[^<]*)<", mathml):
        raise ValueError(f"cannot convert TeX {tex!r}: unknown command {unknown.group(1)!r}")
    try:
        root = etree.fromstring(mathml)
    except etree.ParseError as exc:
        raise ValueError(f"cannot convert TeX {tex!r}: latex2mathml's output is not "
                         f"well-formed ({exc})") from exc
    _to_core(root, tex)
    return etree.tostring(root, encoding="unicode")


class _MathPattern(InlineProcessor):
    def handleMatch(self, m: re.Match, data: str):  # noqa: N802 (Markdown's API)
        display = m.group(1) is not None
        # a code span inside the formula (\text{`half=True`}) is already a placeholder here
        tex = self.unescape(m.group(1) if display else m.group(2))
        try:
            return self.md.htmlStash.store(tex_to_mathml(tex, display)), m.start(0), m.end(0)
        except ValueError as exc:
            log.warning(str(exc))
            code = etree.Element("code")
            code.text = tex
            return code, m.start(0), m.end(0)


# $$display$$ or $inline$ (no space just inside the dollars, none glued to a word outside),
# so a price or a shell variable in prose is left alone.
MATH_RE = r"(?<!\\)\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]*?(?:\n[^$\n]*?)*?)(?<=\S)\$(?![\w$])"


class MathMLExtension(Extension):
    """``$...$`` and ``$$...$$`` to MathML; runs after code spans, before backslash escapes."""

    def extendMarkdown(self, md):  # noqa: N802 (Markdown's API)
        md.inlinePatterns.register(_MathPattern(MATH_RE, md), "nnref_math", 185)


def makeExtension(**kwargs):  # noqa: N802 (Markdown's entry point)
    return MathMLExtension(**kwargs)
