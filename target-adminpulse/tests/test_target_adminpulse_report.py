"""The pages people read after an outbound sync: HTML and Markdown, problems under what to do.

Runs the real command against the sandbox's AdminPulse (fixtures of the writes tests) and reads
the page's text the way a browser shows it.
"""

from __future__ import annotations

from html.parser import HTMLParser

from test_target_adminpulse_writes import (  # noqa: F401 - office and run_target are fixtures
    COMPANY_KBO,
    UNKNOWN_NRN,
    client,
    messages,
    office,
    run_target,
)


class PageText(HTMLParser):
    """Headings, and the cells of every table row, as text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: list[list[str]] = []
        self.text: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th", "h2", "h3"):
            self.text = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.text is not None:
            self.rows[-1].append("".join(self.text).strip())
        elif tag in ("h2", "h3") and self.text is not None:
            self.headings.append("".join(self.text).strip())
        if tag in ("td", "th", "h2", "h3"):
            self.text = None

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def test_the_page_groups_rejections_under_what_to_do_and_shows_the_last_runs(
    office,  # noqa: F811 - the writes tests' fixture
    run_target,  # noqa: F811
):
    unknown = client("cl_<7>", UNKNOWN_NRN, kind="person", risk="high")
    known = client("cl_1", COMPANY_KBO, risk="high")

    run_target(messages(clients=[unknown, known]))
    second = run_target(messages(clients=[known]))

    pages = sorted(second.reports.glob("run-*.html"))
    assert len(pages) == 2
    page = pages[-1].read_text(encoding="utf-8")
    text = PageText(page)
    assert "Last 2 runs" in text.headings
    trend = [row for row in text.rows if row and row[0].endswith("(completed)")]
    # created, updated, rejected per run: the first updated one relation and rejected one client;
    # the second replayed the rejected client, still unknown, and found the other up to date.
    assert [[row[1], row[3], row[5]] for row in trend] == [["0", "1", "1"], ["0", "0", "1"]]
    (heading,) = [h for h in text.headings if h.startswith("To do: fill in the national")]
    assert heading.endswith("(1)")
    masked = f"{UNKNOWN_NRN[0:2]}.{UNKNOWN_NRN[2:4]}.{UNKNOWN_NRN[4:6]}-***.**"
    assert ["clients cl_<7>", f"NRN {masked} (replayed)"] in [row[:2] for row in text.rows]
    assert "cl_&lt;7&gt;" in page
    assert "cl_<7>" not in page
    assert UNKNOWN_NRN not in page
    assert not any(part in page for part in ("<script", "src=", "href="))
    assert "## Last 2 runs" in second.markdown
    assert "### To do: fill in the national register number" in second.markdown
