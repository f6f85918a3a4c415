"""Entry point for ``python -m forensics``."""

from forensics.entry import main

main()
