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
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)


def tex_to_mathml(tex: str, display: bool) -> str:
    """MathML for ``tex``; raises ``ValueError`` when latex2mathml cannot read it."""
    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own exception types, one per syntax error
        raise ValueError(f"cannot convert TeX {tex!r}: {type(exc).__name__}: {exc}") from exc
    if "<merror" in mathml:
        raise ValueError(f"cannot convert TeX {tex!r}: latex2mathml produced an error node")
    # latex2mathml leaves TeX's escaped characters as written inside \text{...} (fan\_in)
    mathml = re.sub(r"\\([_%#&$])", r"\1", mathml)
    # and keeps a command it does not know as text, which would show raw TeX
    if unknown := re.search(r">([^<]*\\[^<]*)<", mathml):
        raise ValueError(f"cannot convert TeX {tex!r}: unknown command {unknown.group(1)!r}")
    # a span (styled as a block) stays valid HTML inside the paragraph Markdown wraps it in
    return f'<span class="nnref-math">{mathml}</span>' if display else mathml


class _MathPattern(InlineProcessor):
    def handleMatch(self, m: re.Match, data: str):  # noqa: N802 (Markdown's API)
        display = m.group(1) is not None
        tex = m.group(1) if display else m.group(2)
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
