"""Stage 3 (extraction): every remote reference, beacon, link and header-level tracking finding.

``html`` enumerates references (selectolax/lexbor), ``css`` reads styles, ``urls`` resolves
and classifies them, ``params`` inventories tracking parameters and identifiers,
``wrappers`` unwraps links, ``beacons`` weighs signals, ``links`` classifies clicks,
``headers`` reads read-receipt and List-Unsubscribe headers, ``rows`` and ``stage`` store
them (see ``forensics.stages``).
"""
