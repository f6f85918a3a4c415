"""Stage 3 (tokens): URL tokens, their decodings, and their roles across the case.

``split`` cuts a URL into tokens and decodes each (``decode``); ``rows`` is the
per-message analyser that stores the tokens worth keeping; ``roles`` is the
case-wide finalizer that says whether a token identifies a recipient, a message
or a campaign.
"""
