"""Stage 3 (extraction): every reference an HTML body makes, where it is, and how it is shown.

Parser choice: selectolax's lexbor backend. It is a complete WHATWG HTML5 tree builder
written in C, so it repairs broken mail markup the way browsers and webmail do (unclosed
tables, stray ``</p>``, unknown ``v:`` tags), decodes character references in
attributes, and parses a typical newsletter in well under a millisecond — several times
faster than lxml or html5lib, and with a small, well-kept binary wheel. It runs with
scripting disabled, so ``<noscript>`` content is parsed as markup, as a mail client that
runs no script displays it.

What is walked: the whole element tree once (``traverse``), plus the contents of Outlook
conditional comments (``<!--[if mso]> ... <![endif]-->``), which hold VML
(``v:imagedata``, ``v:fill``, ``v:image``) that only Outlook renders but that load all the
same; those are parsed as HTML of their own. Hiding is read from inline styles, the
``hidden`` attribute and simple class/id rules of ``<style>`` blocks, on the element and
on every ancestor.

Hostile input is bounded: the HTML read per part, the elements walked per message,
the references kept, the conditional comments parsed, the ancestors inspected. lexbor's
tree construction is quadratic in the depth of open elements (tens of thousands of
nested ``<div>`` take seconds), so a document with more tags than ``PRESCAN_TAGS`` is
first scanned for that depth and cut where it passes ``MAX_OPEN_DEPTH``. Every cut is
reported as a limit, never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from selectolax.lexbor import LexborHTMLParser, LexborNode

from forensics.extract import css
from forensics.extract.rows import fast_init

MAX_HTML_CHARS = 8 * 1024 * 1024  # per HTML part
MAX_ELEMENTS = 200_000  # elements walked per message, all parts and comments together
MAX_REFS = 20_000  # references kept per message
MAX_CONDITIONALS = 500  # conditional comments parsed per message
MAX_CONDITIONAL_DEPTH = 2  # conditional comments inside conditional comments
MAX_ANCESTORS = 512  # ancestors inspected for hiding; deeper ones are not looked at
MAX_SRCSET = 32  # candidates read from one srcset
MAX_TEXT = 200  # characters of link text kept
PRESCAN_TAGS = 8_000  # below this many '<', lexbor's worst case is a fraction of a second
MAX_OPEN_DEPTH = 3_000  # estimated open elements at which the document is cut

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,40})")
# Void elements and elements whose end tag may be omitted never pile up on the stack.
_NO_DEPTH = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen basefont bgsound "
    "frame image p li dt dd tr td th option optgroup tbody thead tfoot colgroup rb rt rp html head "
    "body".split()
)
_LOADED_LINK_RELS = {
    "stylesheet": "stylesheet", "icon": "icon", "shortcut": "icon", "apple-touch-icon": "icon",
    "apple-touch-icon-precomposed": "icon", "mask-icon": "icon", "preload": "preload",
    "prefetch": "preload", "modulepreload": "preload", "prerender": "preload",
    "preconnect": "connect", "dns-prefetch": "connect", "manifest": "manifest", "image_src": "image",
}
_SINGLE_SRC = {
    "iframe": "frame", "frame": "frame", "embed": "object", "audio": "media", "track": "media",
    "bgsound": "media", "script": "script", "layer": "frame", "ilayer": "frame", "xml": "object",
}
_PARAM_NAMES = frozenset({"movie", "src", "filename", "url", "source"})
_VML_PARENTS = ("v:rect", "v:roundrect", "v:shape", "v:oval", "v:image")
_CONDITION = re.compile(r"^\s*\[(if[^\]]{0,100})\]>", re.I)


@fast_init  # ~12 per newsletter
@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """One reference as written in one HTML part, with what the page says about its display."""

    part: int
    kind: str  # "resource" (loaded when the message is shown) or "link" (followed on click)
    location: str  # "img@src", "css@style", "vml@src", "a@href", ...
    element: str  # the element's tag ("img", "v:fill", "td", "style")
    resource_kind: str  # image | stylesheet | font | icon | preload | connect | frame | media | ...
    raw: str  # the reference as written (character references decoded)
    conditional: str  # "if mso" when inside an Outlook conditional comment, else ""
    width: float | None = None  # declared px (attributes, overridden by inline CSS)
    height: float | None = None
    hidden: str = ""  # why the element is not displayed ("display:none", "ancestor div display:none")
    hidden_by_ancestor: bool = False
    order: int = 0  # element position in document order
    last_in_body: bool = False
    text: str = ""  # link text


@dataclass(slots=True)
class Budget:
    """Work allowed for one message, shared by its parts; limits hit are noted, in order."""

    elements: int = 0
    refs: int = 0
    conditionals: int = 0
    limits: list[str] = field(default_factory=list)

    def note(self, limit: str) -> None:
        if limit not in self.limits:
            self.limits.append(limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartRefs:
    part: int
    base: str
    refs: tuple[Ref, ...]
    elements: int


def guard(html: str, budget: Budget) -> str:
    """The part of ``html`` that is safe to hand to the tree builder (see module docstring)."""
    if len(html) > MAX_HTML_CHARS:
        budget.note(f"html-truncated-at-{MAX_HTML_CHARS}-chars")
        html = html[:MAX_HTML_CHARS]
    if html.count("<") <= PRESCAN_TAGS:
        return html
    open_counts: dict[str, int] = {}
    depth = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _NO_DEPTH:
            continue
        if match.group(1):
            if open_counts.get(name, 0) > 0:
                open_counts[name] -= 1
                depth -= 1
        else:
            open_counts[name] = open_counts.get(name, 0) + 1
            depth += 1
            if depth > MAX_OPEN_DEPTH:
                budget.note(f"html-cut-at-nesting-depth-{MAX_OPEN_DEPTH}")
                return html[: match.start()]
    return html


class _Walker:
    """Walks one parsed document (or conditional-comment fragment) and collects references."""

    def __init__(self, part: int, budget: Budget, sheet: css.StyleSheet, conditional: str,
                 inherited_hidden: str, depth: int) -> None:
        self.part = part
        self.budget = budget
        self.sheet = sheet
        self.conditional = conditional
        self.inherited = inherited_hidden
        self.depth = depth
        self.refs: list[Ref] = []
        self.order = 0
        self._hidden_memo: dict[int, str] = {}
        self.last_image: tuple[int, LexborNode] | None = None

    # ------------------------------------------------------------------ walking
    def walk(self, root: LexborNode) -> None:
        for node in root.traverse(include_text=False):
            if self.budget.elements >= MAX_ELEMENTS:
                self.budget.note(f"elements-capped-at-{MAX_ELEMENTS}")
                return
            self.budget.elements += 1
            self.order += 1
            tag = node.tag or ""
            if tag == "-comment":
                self._comment(node)
                continue
            attrs = node.attributes
            if attrs or tag == "style":
                self._element(node, tag, attrs)

    def _element(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "style":
            self._style_block(node)
        handler = _HANDLERS.get(tag)
        if handler is not None:
            handler(self, node, attrs)
        elif tag.startswith("v:"):
            self._vml(node, tag, attrs)
        elif tag in _SINGLE_SRC and attrs.get("src"):
            self._add(node, "resource", f"{tag}@src", tag, _SINGLE_SRC[tag], attrs["src"] or "")
        background = attrs.get("background")
        if background:
            self._image(node, f"{tag}@background", tag, background, attrs)
        style = attrs.get("style")
        if style and "url" in style.lower():
            for url in css.urls(style):
                self._image(node, "css@style", tag, url, attrs)

    # ------------------------------------------------------------------ adding
    def _add(self, node: LexborNode | None, kind: str, location: str, element: str, resource_kind: str,
             raw: str, *, size: tuple[float | None, float | None] = (None, None), hidden: str = "",
             by_ancestor: bool = False, text: str = "") -> None:
        if not raw or not raw.strip():
            return
        if self.budget.refs >= MAX_REFS:
            self.budget.note(f"references-capped-at-{MAX_REFS}")
            return
        self.budget.refs += 1
        self.refs.append(Ref(
            part=self.part, kind=kind, location=location, element=element, resource_kind=resource_kind,
            raw=raw, conditional=self.conditional, width=size[0], height=size[1], hidden=hidden,
            hidden_by_ancestor=by_ancestor, order=self.order, text=text,
        ))

    def _image(self, node: LexborNode, location: str, element: str, raw: str,
               attrs: dict[str, str | None], size_attrs: dict[str, str | None] | None = None) -> None:
        """An image-like resource: its declared size and whether it is hidden are recorded."""
        if not raw or not raw.strip():
            return
        decls = css.declarations(attrs.get("style") or "") if attrs.get("style") else {}
        size = _declared_size(size_attrs if size_attrs is not None else attrs, decls)
        hidden, by_ancestor = self._hiding(node, attrs, decls)
        self._add(node, "resource", location, element, "image", raw, size=size, hidden=hidden,
                  by_ancestor=by_ancestor)
        self.last_image = (len(self.refs) - 1, node)

    def _hiding(self, node: LexborNode, attrs: dict[str, str | None], decls: dict[str, str]) -> tuple[str, bool]:
        own = css.hiding_reason(decls, for_ancestor=False) or _attribute_hiding(attrs, self.sheet)
        if own:
            return own, False
        inherited = self._ancestor_hiding(node)
        return (inherited, True) if inherited else ("", False)

    def _ancestor_hiding(self, node: LexborNode) -> str:
        chain: list[LexborNode] = []
        reason = ""
        parent = node.parent
        while parent is not None and len(chain) < MAX_ANCESTORS:
            known = self._hidden_memo.get(parent.mem_id)
            if known is not None:
                reason = known
                break
            chain.append(parent)
            parent = parent.parent
        else:
            reason = self.inherited
        for ancestor in reversed(chain):
            if not reason:
                own = _element_hiding(ancestor, self.sheet)
                reason = f"ancestor {ancestor.tag} {own}" if own else ""
            self._hidden_memo[ancestor.mem_id] = reason
        return reason

    # ------------------------------------------------------------------ element kinds
    def _img(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        for name in ("src", "lowsrc", "dynsrc"):
            if attrs.get(name):
                self._image(node, f"img@{name}", "img", attrs[name] or "", attrs)
        for url in _srcset(attrs.get("srcset")):
            self._image(node, "img@srcset", "img", url, attrs)

    def _input(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if (attrs.get("type") or "").strip().lower() == "image" and attrs.get("src"):
            self._image(node, "input@src", "input", attrs["src"] or "", attrs)

    def _source(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if attrs.get("src"):
            self._add(node, "resource", "source@src", "source", "media", attrs["src"] or "")
        for url in _srcset(attrs.get("srcset")):
            self._image(node, "source@srcset", "source", url, attrs)

    def _video(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if attrs.get("poster"):
            self._image(node, "video@poster", "video", attrs["poster"] or "", attrs)
        if attrs.get("src"):
            self._add(node, "resource", "video@src", "video", "media", attrs["src"] or "")

    def _object(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if attrs.get("data"):
            self._add(node, "resource", "object@data", "object", "object", attrs["data"] or "")

    def _param(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if (attrs.get("name") or "").strip().lower() in _PARAM_NAMES and attrs.get("value"):
            self._add(node, "resource", "param@value", "param", "object", attrs["value"] or "")

    def _svg_image(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        raw = attrs.get("href") or attrs.get("xlink:href")
        if raw:
            self._image(node, f"{node.tag}@href", node.tag or "image", raw, attrs)

    def _link(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        href = attrs.get("href")
        if not href:
            return
        rels = (attrs.get("rel") or "").lower().split()
        kinds = [_LOADED_LINK_RELS[r] for r in rels if r in _LOADED_LINK_RELS]
        if kinds:
            self._add(node, "resource", "link@href", "link", kinds[0], href)
        else:
            self._add(node, "link", "link@href", "link", "", href)

    def _meta(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if (attrs.get("http-equiv") or "").strip().lower() == "refresh":
            url = _refresh_url(attrs.get("content") or "")
            if url:
                self._add(node, "resource", "meta@refresh", "meta", "refresh", url)

    def _anchor(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        tag = node.tag or "a"
        text = node.text(deep=True, separator=" ", strip=True)[:MAX_TEXT] if tag == "a" else (attrs.get("alt") or "")
        if attrs.get("href"):
            self._add(node, "link", f"{tag}@href", tag, "", attrs["href"] or "", text=text)
        for url in (attrs.get("ping") or "").split():
            self._add(node, "link", f"{tag}@ping", tag, "", url, text=text)

    def _form(self, node: LexborNode, attrs: dict[str, str | None]) -> None:
        if attrs.get("action"):
            self._add(node, "link", "form@action", "form", "", attrs["action"] or "")

    def _vml(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> None:
        raw = attrs.get("src") or attrs.get("href") or attrs.get("o:href")
        if not raw:
            return
        size_attrs = attrs
        if not attrs.get("style"):
            parent = node.parent
            if parent is not None and parent.tag in _VML_PARENTS:
                size_attrs = parent.attributes
        decls = css.declarations(size_attrs.get("style") or "")
        size = _declared_size(size_attrs, decls)
        hidden, by_ancestor = self._hiding(node, attrs, decls)
        self._add(node, "resource", "vml@src", tag, "image", raw, size=size, hidden=hidden,
                  by_ancestor=by_ancestor)
        self.last_image = (len(self.refs) - 1, node)

    def _style_block(self, node: LexborNode) -> None:
        text = node.text(deep=True) or ""
        for url in css.imports(text):
            self._add(node, "resource", "css@import", "style", "stylesheet", url)
        body = css.strip_comments(text)
        for selector, block, _depth in css.rules(body):
            kind = "font" if selector.lower().startswith("@font-face") else "image"
            for url in css.urls(block):
                self._add(node, "resource", "css@style-block", "style", kind, url)

    # ------------------------------------------------------------------ comments
    def _comment(self, node: LexborNode) -> None:
        content = node.comment_content or ""
        match = _CONDITION.match(content)
        if match is None:
            return
        inner = content[match.end():]
        end = inner.rfind("<![endif]")
        inner = inner[:end] if end >= 0 else inner
        if not inner.strip() or "<" not in inner:
            return
        if self.depth >= MAX_CONDITIONAL_DEPTH or self.budget.conditionals >= MAX_CONDITIONALS:
            self.budget.note("conditional-comments-capped")
            return
        self.budget.conditionals += 1
        parent = node.parent
        inherited = self._ancestor_hiding(node) if parent is not None else self.inherited
        label = " ".join(match.group(1).split()).lower()
        self.refs.extend(_walk_fragment(inner, self, label, inherited))


def _walk_fragment(inner: str, outer: _Walker, label: str, inherited: str) -> list[Ref]:
    tree = LexborHTMLParser(guard(inner, outer.budget))
    walker = _Walker(outer.part, outer.budget, outer.sheet, label, inherited, outer.depth + 1)
    walker.order = outer.order
    if tree.root is not None:
        walker.walk(tree.root.parent or tree.root)
    outer.order = walker.order
    if walker.last_image is not None:
        outer.last_image = None  # images inside a comment are never the body's last element
    return walker.refs


_HANDLERS = {
    "img": _Walker._img, "input": _Walker._input, "source": _Walker._source, "video": _Walker._video,
    "object": _Walker._object, "param": _Walker._param, "image": _Walker._svg_image,
    "link": _Walker._link, "meta": _Walker._meta, "a": _Walker._anchor, "area": _Walker._anchor,
    "form": _Walker._form,
}


# ---------------------------------------------------------------------- helpers


def _declared_size(attrs: dict[str, str | None], decls: dict[str, str]) -> tuple[float | None, float | None]:
    """Width and height in px as a client would size the box: CSS over attributes, capped by max-*."""
    out: list[float | None] = []
    for name in ("width", "height"):
        value = css.length_px(decls.get(name)) if name in decls else None
        if value is None:
            value = css.length_px(attrs.get(name))
        cap = css.length_px(decls.get(f"max-{name}")) if f"max-{name}" in decls else None
        if cap is not None and (value is None or cap < value):
            value = cap
        out.append(value)
    return out[0], out[1]


def _attribute_hiding(attrs: dict[str, str | None], sheet: css.StyleSheet) -> str:
    if "hidden" in attrs:
        return "hidden-attribute"
    for cls in (attrs.get("class") or "").split():
        if cls in sheet.hidden_classes:
            return f".{cls} {sheet.hidden_classes[cls]}"
    ident = (attrs.get("id") or "").strip()
    if ident and ident in sheet.hidden_ids:
        return f"#{ident} {sheet.hidden_ids[ident]}"
    return ""


def _element_hiding(node: LexborNode, sheet: css.StyleSheet) -> str:
    """Why an ancestor hides its content ('' when it does not)."""
    attrs = node.attributes
    if not attrs:
        return ""
    style = attrs.get("style")
    if style:
        reason = css.hiding_reason(css.declarations(style), for_ancestor=True)
        if reason:
            return reason
    reason = _attribute_hiding(attrs, sheet)
    if reason:
        return reason
    width, height = css.length_px(attrs.get("width")), css.length_px(attrs.get("height"))
    if width == 0 and height == 0:
        return "zero-size"
    return ""


def _srcset(value: str | None) -> list[str]:
    """URLs of a ``srcset`` (HTML's candidate-string grammar: URL, then descriptors to a comma)."""
    if not value:
        return []
    urls: list[str] = []
    position, size = 0, len(value)
    while position < size and len(urls) < MAX_SRCSET:
        while position < size and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < size and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            comma = value.find(",", position)
            position = size if comma < 0 else comma + 1
        if url:
            urls.append(url)
    return urls


def _refresh_url(content: str) -> str:
    """The URL of ``<meta http-equiv=refresh content="5; url=...">`` ('' when there is none)."""
    _, sep, rest = content.partition(";")
    if not sep:
        _, sep, rest = content.partition(",")
    rest = rest.strip()
    if rest[:3].lower() == "url":
        rest = rest[3:].lstrip()
        if rest.startswith("="):
            rest = rest[1:].strip()
    return rest.strip("'\" ")


def _mark_last(walker: _Walker) -> None:
    """Flag the document's last image if nothing visible follows it in the body."""
    if walker.last_image is None:
        return
    index, node = walker.last_image
    current: LexborNode | None = node
    steps = 0
    while current is not None and current.tag not in ("body", "html") and steps < MAX_ANCESTORS:
        sibling = current.next
        while sibling is not None:
            if sibling.tag == "img" or (sibling.is_element_node and sibling.css_first("img") is not None):
                return
            if sibling.tag != "-comment" and (sibling.text(deep=True) or "").strip():
                return
            sibling = sibling.next
        current = current.parent
        steps += 1
    walker.refs[index] = replace(walker.refs[index], last_in_body=True)


def _base(tree: LexborHTMLParser) -> str:
    """The document's base URL: the first ``<base href>``, when it is absolute."""
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node is not None else ""
    return href if "://" in href[:12] else ""


def part_refs(html: str, part: int, budget: Budget) -> PartRefs:
    """Every reference in one HTML part, in document order."""
    start = budget.elements
    tree = LexborHTMLParser(guard(html, budget))
    root = tree.root
    if root is None:
        return PartRefs(part=part, base="", refs=(), elements=0)
    sheet = css.StyleSheet()
    for style in tree.css("style"):
        sheet.add_block(style.text(deep=True) or "")
    if sheet.truncated:
        budget.note(f"style-truncated-at-{css.MAX_CSS_CHARS}-chars")
    walker = _Walker(part, budget, sheet, "", "", 0)
    walker.walk(root.parent or root)  # the document node: comments before <html> count too
    _mark_last(walker)
    return PartRefs(part=part, base=_base(tree), refs=tuple(walker.refs), elements=budget.elements - start)
