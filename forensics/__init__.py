"""forensics: offline forensic analysis of e-mail tracking in mailbox exports."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Case", "__version__", "open_case"]


def __getattr__(name: str) -> Any:
    # The notebook API (pandas, networkx) is imported on first use, not by every worker.
    if name in ("open_case", "Case"):
        from forensics import case

        return getattr(case, name)
    raise AttributeError(f"module 'forensics' has no attribute {name!r}")
