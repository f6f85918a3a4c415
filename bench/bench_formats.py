"""End-to-end scan throughput per input format, each against bare reading of that format.

Issue 9 asks for messages/s and MB/s per format. The same generated messages
(``make_big_mbox.py``, same seed and size) are written three ways: one mbox, a maildir
(``cur/`` files) and a folder of ``.eml`` files, so the three rates differ by the format
alone. Outlook stores and ``.msg`` files cannot be generated here (no library writes
them), so those two use the corpus's real files (``../shared/corpus``: every PST/OST
store, every ``.msg``): small inputs, so their rates are dominated by per-file costs.

For each format, in this process: bare reading with the field's usual library and no
analysis (the baseline), then ``forensics scan`` (+ the report) in a subprocess per worker
count, through ``bench_scan.run_scan`` (peak memory of the process tree included):

| format | baseline (bare reading) |
| --- | --- |
| mbox | stdlib ``mailbox.mbox`` iteration (splits and parses every message) |
| maildir | stdlib ``mailbox.Maildir`` iteration (parses every message) |
| eml | stdlib ``email.message_from_binary_file`` per file |
| pst | pypff: every item's transport headers and bodies, folder by folder |
| msg | extract-msg: open each file, read its header and bodies |

    python bench/bench_formats.py --size 16M --workers 1,2
    python bench/bench_formats.py --formats mbox,maildir --size 64M

Generated inputs and outputs go to --tmp (default /tmp/forensics-bench-formats), never
beside the evidence. A script, not a test: it prints figures and targets, nothing fails.
"""

from __future__ import annotations

import argparse
import email
import mailbox
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.policy import compat32
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_scan  # the scan runner and its targets, shared
import make_big_mbox

CORPUS = HERE.parent.parent / "shared" / "corpus"
STORE_FOLDERS = ("aspose-email-net", "java-libpst", "go-pst")
MSG_FOLDERS = ("aspose-email-net", "kenjiuno-msgreader")
FORMATS = ("mbox", "maildir", "eml", "pst", "msg")


@dataclass(frozen=True, slots=True, kw_only=True)
class Input:
    """One format's evidence: the paths the scan is given, their bytes, the bare reader."""

    name: str
    paths: tuple[Path, ...]
    size: int
    baseline: str
    read_bare: Callable[[], int]  # returns the messages read


def write_generated(folder: Path, size: int, seed: int) -> tuple[Path, Path, Path]:
    """The same messages as an mbox, a maildir and a folder of .eml files (written once)."""
    mbox, maildir, eml = folder / "gen.mbox", folder / "gen-maildir", folder / "gen-eml"
    marker = folder / f"done-{size}-{seed}"
    if marker.exists():
        return mbox, maildir, eml
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    eml.mkdir(parents=True, exist_ok=True)
    with open(mbox, "wb") as handle:
        for index, (envelope, data) in enumerate(make_big_mbox.messages(size, seed)):
            handle.write(make_big_mbox.mbox_entry(envelope, data))
            (maildir / "cur" / f"{1700000000 + index}.M{index}P1.bench:2,S").write_bytes(data)
            (eml / f"{index:07d}.eml").write_bytes(data)
    marker.write_text("")
    return mbox, maildir, eml


def files_under(paths: tuple[Path, ...]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def total_size(paths: tuple[Path, ...]) -> int:
    return sum(p.stat().st_size for p in files_under(paths))


def bare_mbox(path: Path) -> int:
    with bench_scan.read_only_mailbox():
        box = mailbox.mbox(path, create=False)
        count = sum(1 for _ in box)
        box.close()
    return count


def bare_maildir(path: Path) -> int:
    box = mailbox.Maildir(path, factory=None, create=False)
    return sum(1 for _ in box)


def bare_eml(path: Path) -> int:
    count = 0
    for file in files_under((path,)):
        with open(file, "rb") as handle:
            email.message_from_binary_file(handle, policy=compat32)
        count += 1
    return count


def bare_pst(paths: tuple[Path, ...]) -> int:
    """Every item of every store: transport headers and bodies, as a reader must fetch them."""
    import pypff

    count = 0
    for path in paths:
        store = pypff.file()
        with open(path, "rb") as handle:
            try:
                store.open_file_object(handle)
                count += sum(1 for _ in _pst_items(store.get_root_folder()))
            except OSError:
                pass  # an unreadable store counts no items (the scan reports it as a problem)
            finally:
                store.close()
    return count


def _pst_items(folder: object) -> Iterator[None]:
    for index in range(_count(folder, "number_of_sub_messages")):
        try:
            item = folder.get_sub_message(index)  # type: ignore[attr-defined]
            for attribute in ("transport_headers", "html_body", "plain_text_body"):
                getattr(item, attribute, None)
            yield None
        except OSError:
            continue
    for index in range(_count(folder, "number_of_sub_folders")):
        try:
            child = folder.get_sub_folder(index)  # type: ignore[attr-defined]
        except OSError:
            continue
        yield from _pst_items(child)


def _count(folder: object, attribute: str) -> int:
    try:
        return int(getattr(folder, attribute))
    except OSError:
        return 0


def bare_msg(paths: tuple[Path, ...]) -> int:
    import extract_msg

    count = 0
    for path in paths:
        try:
            with extract_msg.openMsg(str(path), delayAttachments=True, strict=False) as item:
                for attribute in ("header", "body", "htmlBody"):
                    getattr(item, attribute, None)
            count += 1
        except Exception:  # noqa: BLE001, S112 - a file extract-msg cannot read counts no message
            continue
    return count


def inputs(names: list[str], tmp: Path, size: int, seed: int, corpus: Path = CORPUS) -> list[Input]:
    mbox, maildir, eml = write_generated(tmp / "evidence", size, seed) if {"mbox", "maildir", "eml"} & set(names) \
        else (Path(), Path(), Path())
    stores = tuple(sorted(p for f in STORE_FOLDERS for p in (corpus / f).rglob("*")
                          if p.suffix.lower() in (".pst", ".ost")))
    msgs = tuple(sorted(p for f in MSG_FOLDERS for p in (corpus / f).rglob("*") if p.suffix.lower() == ".msg"))
    table = {
        "mbox": Input(name="mbox", paths=(mbox,), size=0, baseline="stdlib mailbox.mbox",
                      read_bare=lambda: bare_mbox(mbox)),
        "maildir": Input(name="maildir", paths=(maildir,), size=0, baseline="stdlib mailbox.Maildir",
                         read_bare=lambda: bare_maildir(maildir)),
        "eml": Input(name="eml", paths=(eml,), size=0, baseline="stdlib email.message_from_binary_file",
                     read_bare=lambda: bare_eml(eml)),
        "pst": Input(name="pst", paths=stores, size=0, baseline="pypff items (headers, bodies)",
                     read_bare=lambda: bare_pst(stores)),
        "msg": Input(name="msg", paths=msgs, size=0, baseline="extract-msg open (header, bodies)",
                     read_bare=lambda: bare_msg(msgs)),
    }
    chosen = [table[n] for n in names]
    return [Input(name=i.name, paths=i.paths, size=total_size(i.paths), baseline=i.baseline,
                  read_bare=i.read_bare) for i in chosen]


def bench_input(item: Input, workers: list[int], tmp: Path) -> None:
    mb = item.size / 1e6
    print(f"\n== {item.name}: {len(files_under(item.paths))} files, {mb:.1f} MB")
    start, cpu = time.perf_counter(), time.process_time()
    count = item.read_bare()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    base = count / seconds
    print(f"bare reading ({item.baseline}): {count} messages in {seconds:.1f} s = {base:.0f} msg/s, "
          f"{mb / seconds:.2f} MB/s; CPU {cpu:.1f} s")
    one = None
    for count_workers in workers:
        r = bench_scan.run_scan(item.paths, tmp / f"case-{item.name}-{count_workers}", count_workers, size=item.size)
        one = one or (r if count_workers == 1 else None)
        scaling = f", {r['msg_s'] / one['msg_s']:.2f}x 1 worker" if one and count_workers > 1 else ""
        print(f"scan --workers {count_workers}: {r['messages']} messages in {r['seconds']:.1f} s = "
              f"{r['msg_s']:.0f} msg/s, {r['mb_s']:.2f} MB/s, {r['msg_s'] / base:.2f}x bare reading{scaling}; "
              f"shards {r['shards_s']:.1f} s, finalizers {r['finalize_s']:.1f} s, report {r['report_s']:.1f} s; "
              f"CPU {r['cpu_s']:.0f} s; peak PSS {r['peak_pss_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"any of {', '.join(FORMATS)}")
    parser.add_argument("--size", default="16M", help="size of the generated mail (mbox bytes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/forensics-bench-formats"))
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the shared corpus (PST/OST and .msg files)")
    args = parser.parse_args()
    names = [n for n in args.formats.split(",") if n]
    unknown = sorted(set(names) - set(FORMATS))
    if unknown:
        parser.error(f"unknown format(s): {', '.join(unknown)}")
    args.tmp.mkdir(parents=True, exist_ok=True)
    print(f"forensics bench_formats, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    workers = [int(w) for w in args.workers.split(",") if w]
    for item in inputs(names, args.tmp, make_big_mbox.parse_size(args.size), args.seed, args.corpus):
        bench_input(item, workers, args.tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
