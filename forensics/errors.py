"""The error family. The library raises these; only the CLI turns them into messages."""


class ForensicsError(Exception):
    """Base class of every error this package raises on purpose."""


class UnsupportedFormat(ForensicsError, ValueError):
    """The bytes are not of the format a reader handles ("not my format")."""


class ReadError(ForensicsError):
    """The format is right but the data is damaged or unreadable ("my format, broken")."""


class EvidenceChanged(ForensicsError):
    """An input's size or SHA-256 differs after the run from before it."""


class UnsafeOutput(ForensicsError, ValueError):
    """The output folder would be written inside the evidence being analysed."""


class MissingDependency(ForensicsError):
    """An optional library needed for this input or engine is not installed."""
