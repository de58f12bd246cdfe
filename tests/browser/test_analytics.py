"""The analytics page in a real browser: plotly draws every chart from our own static files, filters redraw
them without a page load, and the table view shows the same numbers."""

from playwright.sync_api import Page, expect

from tests.analytics.test_lift_api_and_pages import measured  # noqa: F401  (fixture)


def test_the_charts_render_with_data_and_filters_change_them(page: Page, log_in, charlie, measured):  # noqa: F811
    log_in("charlie")
    page.goto("/analytics/")

    lift = page.locator("#chart-conversion-lift")
    expect(lift.locator(".plot svg.main-svg").first).to_be_visible()  # drawn by plotly.js
    expect(lift.locator(".xtick text", has_text="High-Intent Abandoners")).to_have_count(1)
    for chart in ("open-lift", "funnel", "open-by-hour", "fatigue", "trend"):
        expect(page.locator(f"#chart-{chart} .plot svg.main-svg").first).to_be_visible()
    lift.get_by_text("Table").click()
    expect(lift.locator("tbody tr", has_text="High-Intent Abandoners")).to_contain_text("40.0")
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Segment", exact=True).select_option(label="Lapsed Users")

    expect(lift.locator(".xtick text", has_text="Lapsed Users")).to_have_count(1)
    expect(lift.locator(".xtick text", has_text="High-Intent Abandoners")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the charts, no page load
    assert f"segment={measured['lapsed'].pk}" in page.url  # the filtered view can be shared
