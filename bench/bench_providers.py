"""Provider matching cost per URL: the full knowledge base against a reduced one, same process.

The matcher is a host-suffix dict, shape buckets keyed by first path segment and a
parameter dict, so the cost per URL should not grow with the number of providers.
Run: python bench/bench_providers.py [--urls N]. Prints microseconds per URL and the ratio.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from forensics.providers import Attributor
from forensics.providers.kb import load

REDUCED = ("mailchimp", "sendgrid", "amazon-ses", "mailgun", "sparkpost", "postmark", "mailjet",
           "brevo", "hubspot", "yesware")
UNMATCHED = [
    "https://fonts.googleapis.com/css?family=Open+Sans",
    "https://www.example.com/products/blue-shirt?utm_source=newsletter&utm_medium=email",
    "https://cdn.example.net/img/logo.png",
    "https://images.example.org/2024/05/hero-banner.jpg?w=600",
    "https://www.example.com/account/settings",
]


def per_url_microseconds(attributor: Attributor, urls: list[str]) -> float:
    for url in urls[:50]:
        attributor.attribute_url(url, "")  # warm caches (registered_domain is lru-cached)
    start = time.perf_counter()
    for url in urls:
        attributor.attribute_url(url, "")
    return (time.perf_counter() - start) / len(urls) * 1e6


def spread(templates: list[str], n: int) -> list[str]:
    """n URLs from templates, hosts varied so per-host caches do not flatter the result."""
    return [templates[i % len(templates)].replace("example", f"example{i % 997}") for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=100_000, help="URLs matched per rule set and mix")
    args = parser.parse_args()
    kb = load()
    small = Attributor(replace(kb, providers=tuple(p for p in kb.providers if p.id in REDUCED)))
    full = Attributor(kb)
    matched = [url for p in small.kb.providers for url in p.examples]
    # The same URLs must get the same answer from both rule sets, or the comparison is unfair.
    assert all(small.attribute_url(u, "") == full.attribute_url(u, "") for u in matched)
    rules = lambda a: sum(p.rule_count for p in a.kb.providers)  # noqa: E731
    for label, urls in (("matched", spread(matched, args.urls)), ("unmatched", spread(UNMATCHED, args.urls))):
        # Interleaved, best of three: the machine is shared, and the minimum is the least noisy.
        t_small, t_full = float("inf"), float("inf")
        for _ in range(3):
            t_small = min(t_small, per_url_microseconds(small, urls))
            t_full = min(t_full, per_url_microseconds(full, urls))
        print(f"{label:9s} reduced {len(small.kb.providers):3d} providers/{rules(small):4d} rules: {t_small:6.2f} us/URL; "
              f"full {len(full.kb.providers):3d} providers/{rules(full):4d} rules: {t_full:6.2f} us/URL; "
              f"ratio full/reduced {t_full / t_small:.2f}")


if __name__ == "__main__":
    main()
