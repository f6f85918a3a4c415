"""The list of analysis stages, in the order they run. One line per stage.

Per-message stages (``ANALYSERS``) run in the workers, once per message, and see the
``MessageContext`` that earlier stages filled (extraction puts the URLs it found
there, so tokens and leaks do not parse the HTML again). Case stages (``FINALIZERS``)
run once after every shard is stored, over the whole case in SQL (token roles across
messages, uniqueness of beacon URLs, the graph, metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from forensics.analyse import MessageContext, Settings
from forensics.records import Message, Row
from forensics.store import Store

Analyser = Callable[[Message, Settings, MessageContext], Sequence[Row]]
Finalizer = Callable[[Store, Settings], None]

ANALYSERS: list[Analyser] = []
FINALIZERS: list[Finalizer] = []
# The finalizers again, in lanes that ``pipeline.run_finalizers`` runs at once (each lane's
# finalizers in order). Lanes write different tables; a finalizer that reads what another
# lane writes calls ``store.await_finalizers(name, ...)`` first, which returns when the lanes
# of those finalizers are done (a lane that others wait for must not wait itself, or two
# lanes could wait for each other).
FINALIZER_LANES: list[list[Finalizer]] = []

# Accounting first: a message present but not wholly analysable also gets a problem row.
from forensics.analyse import accounting_problems  # noqa: E402

ANALYSERS.append(accounting_problems)

# Extraction next: remote resources, beacons, links, header findings; fills context.urls.
from forensics.extract.stage import analyse_extraction, finalize_beacons  # noqa: E402

ANALYSERS.append(analyse_extraction)
FINALIZERS.append(finalize_beacons)

# Tokens and identity leaks read the URLs extraction leaves in the context: they must
# stay AFTER extraction in ANALYSERS. Token roles are judged over the whole case.
from forensics.leaks import analyse_leaks  # noqa: E402
from forensics.tokens.roles import assign_roles  # noqa: E402
from forensics.tokens.rows import analyse_tokens  # noqa: E402

ANALYSERS += [analyse_tokens, analyse_leaks]
FINALIZERS.append(assign_roles)
# Correlation metrics read every table above: keep this finalizer LAST. Lanes: token roles
# (url_tokens, message_recipients -> tokens) on the scan's connection; beacon uniqueness
# (resources); the metrics, which make what needs neither first, then wait for the
# beacons' verdicts, then for the roles (``store.await_finalizers`` by name).
from forensics.correlate.metrics import compute_metrics  # noqa: E402

FINALIZERS.append(compute_metrics)
FINALIZER_LANES += [[assign_roles], [finalize_beacons], [compute_metrics]]
