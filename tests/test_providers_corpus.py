"""Real mail: the header fingerprints name the service that real ESP mail came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics.providers import attribute_message, message_from_headers

# A header only one service adds, and the provider it must lead to.
SIGNATURES = {
    "x-ses-outgoing": "amazon-ses", "x-mailgun-sid": "mailgun", "x-mj-mid": "mailjet",
    "x-pm-message-id": "postmark", "x-sfmc-stack": "salesforce-marketing-cloud",
    "x-mandrill-user": "mandrill", "x-mc-user": "mailchimp", "x-sib-id": "brevo",
    "x-kmail-account": "klaviyo", "x-hs-cid": "hubspot", "x-roving-id": "constant-contact",
    "x-greenarrow-mtaid": "greenarrow", "x-emmkt": "emblue", "x-zendesk-email-id": "zendesk",
}


@pytest.mark.corpus
def test_real_esp_mail_is_attributed_by_its_headers(corpus: Path) -> None:
    folder = corpus / "phishing_pot-dev"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    checked = 0
    for path in sorted(folder.glob("*.eml")):
        with open(path, "rb") as handle:
            message = message_from_headers(handle.read(), str(path))
        names = {name.lower() for name, _ in message.headers}
        expected = {pid for header, pid in SIGNATURES.items() if header in names}
        if len(expected) != 1:
            continue  # no signature, or two services on one message (a relay): not a clean case
        found = attribute_message(message)
        assert found is not None and found.provider_id in expected, f"{path.name}: {found}"
        checked += 1
    assert checked >= 30
