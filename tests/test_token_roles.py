"""Token roles across the case: recipient, message and campaign identifiers, from the evidence."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from forensics.analyse import MessageContext, Settings
from forensics.leaks import analyse_leaks
from forensics.report.csvout import QUERIES
from forensics.store import Store
from forensics.tokens.roles import _Seen, assign_roles, decide
from forensics.tokens.rows import analyse_tokens

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_leak_corpus", ROOT / "tools" / "make_leak_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()


def _store_corpus(folder: Path, leaks: bool = True, mailboxes: tuple[str, ...] | None = None,
                  reverse: bool = False) -> Store:
    """The token and leak rows of the generated corpus in a case, roles assigned."""
    corpus = gen.build(leaks)
    settings = Settings(identities=corpus.identities)
    store = Store(folder)
    items = gen.analysed_inputs(corpus)
    for generated, message, urls in reversed(items) if reverse else items:
        if mailboxes is not None and generated.mailbox not in mailboxes:
            continue
        context = MessageContext(urls=urls)
        rows = [*analyse_tokens(message, settings, context), *analyse_leaks(message, settings, context)]
        with store.conn:
            for row in rows:
                store.insert([row])
    assign_roles(store, settings)
    return store


def _roles(store: Store) -> dict[str, str]:
    return {value: role for value, role in store.conn.execute("SELECT value, role FROM tokens")}


def test_generated_corpus_every_known_token_gets_its_role(tmp_path: Path) -> None:
    corpus = gen.build(True)
    with _store_corpus(tmp_path) as store:
        roles = _roles(store)
    assert {v: roles.get(v) for v in corpus.roles} == corpus.roles


def test_the_evidence_is_counted(tmp_path: Path) -> None:
    with _store_corpus(tmp_path) as store:
        rows = {r["role"] + ":" + r["value"][0]: dict(r) for r in store.query(
            "SELECT * FROM tokens WHERE value GLOB '[RMCSI]*' AND length(value) >= 12")}
    recipient = rows["recipient-identifier:R"]
    assert (recipient["messages"], recipient["recipients"], recipient["senders"], recipient["pair_messages"]) == (
        3, 1, 1, 3)
    assert recipient["sender_list"] == "offers@brand.example"
    assert recipient["host_list"] == "trk.esp-mail.example"
    assert recipient["locations"] == "query[r]"
    assert rows["campaign-identifier:C"]["recipients"] == 2
    assert rows["message-identifier:M"]["evidence"].startswith("in 1 of 3 messages from its sender")
    copies = rows["recipient-identifier:S"]
    assert (copies["copies_compared"], copies["copies_differing"]) == (1, 1)
    assert copies["evidence"] == "differs between copies sent to different recipients (1 of 1 comparisons)"


def test_one_mailbox_alone_cannot_see_campaigns(tmp_path: Path) -> None:
    """With Alice's mailbox only, the campaign token is one message each: message ids."""
    corpus = gen.build(True)
    with _store_corpus(tmp_path, mailboxes=("alice.mbox",)) as store:
        roles = _roles(store)
    campaign = [v for v, r in corpus.roles.items() if r == "campaign-identifier" and v.startswith("C")][0]
    assert roles[campaign] == "message-identifier"
    copies = [v for v in roles if v.startswith("S") and len(v) == 18]
    assert [roles[v] for v in copies] == ["undetermined"]  # one digest, no copy to compare with


def test_adding_inputs_later_gives_the_same_roles_as_one_scan(tmp_path: Path) -> None:
    with _store_corpus(tmp_path / "once") as store:
        once = list(store.conn.execute("SELECT * FROM tokens ORDER BY value"))
    with _store_corpus(tmp_path / "later", mailboxes=("alice.mbox",)) as store:
        pass
    with _store_corpus(tmp_path / "later", reverse=True) as store:  # all again, other order
        assign_roles(store, Settings())  # idempotent
        later = list(store.conn.execute("SELECT * FROM tokens ORDER BY value"))
    assert later == once


def test_exports_run_and_are_ordered(tmp_path: Path) -> None:
    with _store_corpus(tmp_path) as store:
        tokens = list(store.conn.execute(QUERIES["tokens"]))
        leaks = list(store.conn.execute(QUERIES["leaks"]))
    assert [(r[1], r[0]) for r in tokens] == sorted((r[1], r[0]) for r in tokens)
    assert len(leaks) == len(gen.build(True).leaks)


@pytest.mark.parametrize(
    ("seen", "role"),
    [
        (_Seen(messages=2, recipients=2, senders=1, pair_messages=4, covers_pairs=True, copies_compared=0,
               copies_differing=0), "campaign-identifier"),
        (_Seen(messages=3, recipients=1, senders=1, pair_messages=3, covers_pairs=True, copies_compared=0,
               copies_differing=0), "recipient-identifier"),
        (_Seen(messages=1, recipients=1, senders=1, pair_messages=3, covers_pairs=False, copies_compared=1,
               copies_differing=1), "message-identifier"),
        (_Seen(messages=1, recipients=1, senders=1, pair_messages=1, covers_pairs=True, copies_compared=1,
               copies_differing=1), "recipient-identifier"),
        (_Seen(messages=2, recipients=1, senders=1, pair_messages=5, covers_pairs=False, copies_compared=0,
               copies_differing=0), "repeated"),
        (_Seen(messages=1, recipients=1, senders=1, pair_messages=1, covers_pairs=True, copies_compared=0,
               copies_differing=0), "undetermined"),
    ],
)
def test_role_precedence(seen: _Seen, role: str) -> None:
    assert decide(seen)[0] == role


def _extraction_registered() -> bool:
    from forensics.stages import ANALYSERS

    return ANALYSERS.index(analyse_tokens) > 0


@pytest.mark.skipif(not _extraction_registered(), reason="extraction stage not registered yet")
def test_scan_assigns_every_known_role(tmp_path: Path) -> None:
    from forensics.pipeline import ScanOptions, scan

    corpus = gen.write(tmp_path / "evidence")
    options = ScanOptions(out=tmp_path / "case", settings=Settings(identities=corpus.identities))
    scan([tmp_path / "evidence"], options)
    with Store(tmp_path / "case") as store:
        roles = _roles(store)
    assert {v: roles.get(v) for v in corpus.roles} == corpus.roles


def test_every_exported_column_is_in_the_data_dictionary(tmp_path: Path) -> None:
    from forensics.report import dictionary

    with Store(tmp_path) as store:
        for name in ("leaks", "tokens", "url_tokens", "message_recipients"):
            sql = QUERIES.get(name, f'SELECT * FROM "{name}"')
            columns = [d[0] for d in store.conn.execute(sql).description]
            assert [c for c in columns if not dictionary.describe(name, c)] == [], name
