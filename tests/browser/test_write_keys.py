"""An admin creates a write key and revokes it; the tracking API then refuses it."""

import pytest
import requests
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_admin_creates_and_revokes_a_write_key(page: Page, live_server, log_in, alice, write_key):
    log_in("alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Write keys").click()
    expect(page.get_by_role("heading", name="Write keys", level=1)).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Mobile app")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("status")).to_contain_text("Write key “Mobile app” created.")
    row = page.locator("tbody tr").filter(has_text="Mobile app")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("active")
    key = row.locator("code.secret").inner_text().strip()
    assert len(key) >= 20

    # Dismissing the confirmation changes nothing.
    dialogs: list[str] = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Revoke").click()
    expect(row.locator(".badge")).to_have_text("active")
    assert dialogs == ["Revoke Mobile app? Clients using it will be refused."]

    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()

    expect(page.get_by_role("status")).to_contain_text("Write key “Mobile app” revoked")
    expect(row.locator(".badge")).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    other = page.locator("tbody tr").filter(has_text=write_key.name)
    expect(other.locator(".badge")).to_have_text("active")

    # What the page says is true: the tracking API now refuses the key.
    batch = {"batch": [{"type": "track", "event": "Ping", "userId": "u-1"}]}
    refused = requests.post(f"{live_server.url}/v1/batch", json=batch, auth=(key, ""), timeout=5)
    assert refused.status_code == 401
    accepted = requests.post(f"{live_server.url}/v1/batch", json=batch, auth=(write_key.key, ""), timeout=5)
    assert accepted.status_code == 200
