"""Stage 3 (extraction): the rows extraction stores in the case (tables ``resources``,
``links``, ``header_findings``, ``extraction``). Column meanings: docs/extraction.md.

``finding_id`` is the first 16 hex digits of the message's SHA-256, the kind (``r``
resource, ``l`` link, ``h`` header) and the position in the message, so the same message
gives the same ids in every run and on every worker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from forensics.records import Row
from forensics.store import register

_T = TypeVar("_T")


def fast_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted, keyword-only dataclass an ``__init__`` that stores each field
    through its slot descriptor: the same instance, about twice as fast to build as with the
    generated ``object.__setattr__`` per field (extraction builds ~80 such objects per
    newsletter; their ``__init__`` was a tenth of its CPU).

    Only for classes without ``__post_init__``, default factories or init-less fields; the
    class stays frozen (``__setattr__`` still refuses), and ``replace``, ``==``, ``repr``,
    pickling are the dataclass's own."""
    params = getattr(cls, "__dataclass_params__")  # noqa: B009 - set by @dataclass
    assert params.frozen and "__slots__" in cls.__dict__ and not hasattr(cls, "__post_init__"), cls
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, object] = {}
    args = []
    for f in fields:
        assert f.kw_only and f.init and f.default_factory is dataclasses.MISSING, (cls, f.name)
        slot = next(k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__)
        namespace[f"_set_{f.name}"] = slot.__set__
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields) or "    pass\n"
    exec(f"def __init__(self, *, {', '.join(args)}):\n{body}", namespace)  # noqa: S102 - our own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    return cls


def finding_id(message_sha256: str, kind: str, seq: int) -> str:
    return f"{message_sha256[:16]}-{kind}{seq:05d}"


@register
@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRow(Row):
    """A remote resource a mail client would load when the message is displayed."""

    TABLE: ClassVar[str] = "resources"
    KEY: ClassVar[tuple[str, ...]] = ("finding_id",)
    # the case-wide uniqueness counts group by these (forensics.extract.stage.finalize_beacons)
    INDEXES: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("resolved", "message_sha256"), ("url_template", "message_sha256"), ("host", "message_sha256"))
    finding_id: str
    message_sha256: str
    seq: int
    part: int
    location: str
    element: str
    resource_kind: str
    conditional: str
    url: str
    resolved: str
    unwrapped: str
    wrappers: str
    host: str
    registered_domain: str
    party: str
    declared_width: float | None
    declared_height: float | None
    hidden: str
    last_in_body: int
    repeats_in_message: int
    same_shape_in_message: int
    identifiers: str
    tracking_params: str
    url_template: str
    signals_local: str
    miss_local: float
    damp_local: float
    strong: int
    has_identifier: int
    url_messages: int
    template_messages: int
    host_messages: int
    signals: str
    confidence: float
    is_beacon: int
    provider: str  # forensics.providers.attribute_url of the row's URL
    provider_company: str
    provider_category: str
    provider_layer: str
    provider_rule: str
    provider_confidence: float
    provider_reason: str


@register
@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRow(Row):
    """A link (``a href``, ``area``, ``form action``, a URL in text/plain) and where it leads."""

    TABLE: ClassVar[str] = "links"
    KEY: ClassVar[tuple[str, ...]] = ("finding_id",)
    finding_id: str
    message_sha256: str
    seq: int
    part: int
    location: str
    element: str
    conditional: str
    link_text: str
    url: str
    resolved: str
    unwrapped: str
    wrappers: str
    unwrap_chain: str
    host: str
    registered_domain: str
    party: str
    tracker_host: str
    final_host: str
    final_registered_domain: str
    final_party: str
    classification: str
    identifiers: str
    tracking_params: str
    signals: str
    provider: str  # forensics.providers.attribute_url of the row's URL
    provider_company: str
    provider_category: str
    provider_layer: str
    provider_rule: str
    provider_confidence: float
    provider_reason: str


@register
@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderFindingRow(Row):
    """A read-receipt request or a List-Unsubscribe entry."""

    TABLE: ClassVar[str] = "header_findings"
    KEY: ClassVar[tuple[str, ...]] = ("finding_id",)
    finding_id: str
    message_sha256: str
    seq: int
    header: str
    kind: str
    value: str
    url: str
    host: str
    registered_domain: str
    party: str
    identifiers: str
    signals: str
    provider: str  # forensics.providers.attribute_url of the row's URL
    provider_company: str
    provider_category: str
    provider_layer: str
    provider_rule: str
    provider_confidence: float
    provider_reason: str


@register
@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractionRow(Row):
    """What extraction saw in one message, including what it counted but did not keep."""

    TABLE: ClassVar[str] = "extraction"
    KEY: ClassVar[tuple[str, ...]] = ("message_sha256",)
    message_sha256: str
    html_parts: int
    html_chars: int
    elements_walked: int
    remote_resources: int
    beacons_local: int
    cid_references: int
    data_references: int
    relative_references: int
    other_references: int
    links: int
    tracked_links: int
    text_links: int
    header_findings: int
    limits: str
