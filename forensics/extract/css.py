"""Stage 3 (extraction): the parts of CSS that make a mail client load something or hide it.

Written by hand on purpose: the project has no CSS dependency, and what is needed is
small and regular — ``url()`` and ``@import`` tokens, ``property: value`` declarations
and top-level rule blocks (CSS Syntax Level 3 tokenises exactly these without context).
Everything is linear in the input and capped (``MAX_CSS_CHARS``), so hostile styles cost
little. Comments are removed first so that ``/* url(x) */`` loads nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_CSS_CHARS = 1_000_000  # per style attribute or <style> block; the rest is not read
MAX_RULES = 20_000  # rule blocks read per <style> element

_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
_URL = re.compile(
    r"""url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|((?:[^)\s"'\\]|\\.)*))\s*\)""", re.I | re.S
)
_IMPORT = re.compile(
    r"""@import\s+(?:url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)\s"']*))\s*\)"""
    r"""|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""",
    re.I | re.S,
)
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", re.S)
_PLACEHOLDER = "\x00url\x00"
_SIMPLE_SELECTOR = re.compile(r"^[a-zA-Z0-9]*([.#])(-?[_a-zA-Z][\w-]*)$")
_LENGTH = re.compile(r"^\s*(-?\d*\.?\d+)\s*(px|pt|em|rem|%|)\s*$", re.I)
_OFFSCREEN_PX = -500  # absolutely positioned this far off the page: outside the visible layout


def _unescape(text: str) -> str:
    """CSS escapes (``\\66`` or ``\\.``) as the characters they stand for."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(min(int(m.group(1), 16), 0x10FFFF) or 0xFFFD) if m.group(1)
                       else m.group(2), text)


def strip_comments(css: str) -> str:
    return _COMMENT.sub(" ", css[:MAX_CSS_CHARS]) if "/*" in css else css[:MAX_CSS_CHARS]


def urls(css: str) -> list[str]:
    """Every ``url(...)`` in a piece of CSS, unescaped, in order (comments ignored)."""
    if "url(" not in css.lower():
        return []
    return [_unescape(next(g for g in m.groups() if g is not None)) for m in _URL.finditer(strip_comments(css))]


def imports(css: str) -> list[str]:
    """The targets of ``@import`` rules, in order."""
    if "@import" not in css.lower():
        return []
    return [_unescape(next(g for g in m.groups() if g is not None)) for m in _IMPORT.finditer(strip_comments(css))]


def declarations(style: str) -> dict[str, str]:
    """``property -> value`` of a declaration list (last wins, lower-cased, ``!important`` dropped).

    ``url(...)`` tokens are set aside before splitting on ``;`` because data: URLs hold
    semicolons.
    """
    text = strip_comments(style)
    if "(" in text:
        text = _URL.sub(_PLACEHOLDER, text)
    out: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.partition(":")
        if sep:
            value = value.strip().lower()
            if value.endswith("!important"):
                value = value[: -len("!important")].strip()
            out[name.strip().lower()] = value
    return out


def length_px(value: str | None) -> float | None:
    """A CSS or HTML length in px (``1``, ``1px``, ``0.5pt``); None for %, auto or junk."""
    if value is None:
        return None
    match = _LENGTH.match(value)
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        return 0.0 if number == 0 else None
    if unit == "pt":
        return number * 4 / 3
    if unit in ("em", "rem"):
        return number * 16
    return number


def _is_zero(value: str | None) -> bool:
    px = length_px(value)
    return px is not None and px <= 0


def _opacity_zero(value: str | None) -> bool:
    if not value:
        return False
    try:
        return float(value.rstrip("%")) <= 0
    except ValueError:
        return False


def hiding_reason(decls: dict[str, str], *, for_ancestor: bool) -> str:
    """Why these declarations make the element (and its content) invisible, '' if they do not.

    An element's own zero ``width``/``height`` is a size, judged elsewhere; on an ancestor it
    hides the content only together with ``overflow:hidden``.
    """
    if not decls:
        return ""
    if decls.get("display") == "none":
        return "display:none"
    if decls.get("visibility") in ("hidden", "collapse"):
        return f"visibility:{decls['visibility']}"
    if _opacity_zero(decls.get("opacity")):
        return "opacity:0"
    for name in ("max-height", "max-width"):
        if _is_zero(decls.get(name)):
            return f"{name}:0"
    clipped = decls.get("overflow", "") == "hidden" or decls.get("overflow-y", "") == "hidden"
    if clipped and (_is_zero(decls.get("height")) or _is_zero(decls.get("width"))):
        return "zero-size+overflow:hidden"
    if decls.get("position") in ("absolute", "fixed"):
        for edge in ("left", "top"):
            px = length_px(decls.get(edge))
            if px is not None and px <= _OFFSCREEN_PX:
                return f"offscreen:{edge}"
    if for_ancestor and _is_zero(decls.get("height")) and _is_zero(decls.get("width")):
        return "zero-size"
    return ""


@dataclass(slots=True)
class StyleSheet:
    """What the ``<style>`` blocks of one document hide: simple class and id selectors."""

    hidden_classes: dict[str, str] = field(default_factory=dict)
    hidden_ids: dict[str, str] = field(default_factory=dict)
    truncated: bool = False

    def add_block(self, css: str) -> None:
        """Read one ``<style>`` element's text."""
        if len(css) > MAX_CSS_CHARS:
            self.truncated = True
        for selector, body, depth in rules(strip_comments(css)):
            if depth == 0 and not selector.startswith("@"):
                self._note_hiding(selector, body)

    def _note_hiding(self, selector: str, body: str) -> None:
        reason = hiding_reason(declarations(body), for_ancestor=True)
        if not reason:
            return
        for one in selector.split(","):
            match = _SIMPLE_SELECTOR.match(one.strip())
            if match:
                table = self.hidden_classes if match.group(1) == "." else self.hidden_ids
                table.setdefault(match.group(2), reason)


def rules(css: str) -> list[tuple[str, str, int]]:
    """Innermost rule blocks as (selector, body, nesting depth of the block).

    Rules inside ``@media`` (depth 1) are returned so their ``url()`` loads are counted,
    but a class hidden only under a media query (``.mobile-hide``) is not hidden for all.
    """
    out: list[tuple[str, str, int]] = []
    stack: list[list[object]] = []  # [selector, body start, has nested block]
    start = 0
    for match in re.finditer(r"[{}]", css):
        pos = match.start()
        if match.group() == "{":
            if stack:
                stack[-1][2] = True
            stack.append([css[start:pos].rsplit(";", 1)[-1].strip(), pos + 1, False])
        elif stack:
            selector, body_start, nested = stack.pop()
            if not nested:
                out.append((str(selector), css[int(body_start) : pos], len(stack)))  # type: ignore[call-overload]
                if len(out) >= MAX_RULES:
                    break
        start = pos + 1
    return out
