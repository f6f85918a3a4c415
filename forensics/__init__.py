"""forensics: offline forensic analysis of e-mail tracking in mailbox exports."""

__version__ = "0.1.0"
