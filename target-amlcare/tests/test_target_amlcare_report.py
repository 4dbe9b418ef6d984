"""The pages people read: the HTML and Markdown reports, with problems grouped and the trend.

Each test runs the `target-amlcare` command on hand-written input against the sandbox's AMLCare,
twice where the trend matters, and reads the pages it wrote as a browser would see their text.
"""

from __future__ import annotations

from html.parser import HTMLParser

from test_target_amlcare_import import messages, nrn, relation, run_target

INVALID_NRN = "85073112345"  # a birth date, a counter and wrong check digits


class Tables(HTMLParser):
    """The text of every table cell, table by table, row by row; and every heading."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.titles: list[str] = []  # the heading above each table
        self.cell: list[str] | None = None
        self.heading: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
            self.titles.append(self.headings[-1] if self.headings else "")
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag in ("h2", "h3"):
            self.heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag in ("h2", "h3") and self.heading is not None:
            self.headings.append("".join(self.heading).strip())
            self.heading = None

    def handle_data(self, data):
        for part in (self.cell, self.heading):
            if part is not None:
                part.append(data)

    def rows_under(self, heading: str) -> list[list[str]]:
        """The rows of the table below a heading, without its header row."""
        return self.tables[self.titles.index(heading)][1:]


def test_the_page_groups_problems_by_kind_with_where_and_what_to_do(sandbox, tmp_path):
    person = relation("person", nationalRegisterNumber=INVALID_NRN)
    company = relation("<b>bad</b>", "company", vatNumber="0123456748")
    new = relation("new", nationalRegisterNumber=nrn("850730", 33))

    run_target(sandbox, tmp_path, messages([person, company, new]))

    page = next((tmp_path / "reports").glob("import-*.html")).read_text(encoding="utf-8")
    tables = Tables(page)
    assert "Invalid identifier (2)" in tables.headings
    rows = tables.rows_under("Invalid identifier (2)")
    assert ["PERSON", "85.07.31-***.**", "invalid national register number", "rejected"] in [
        [row[0], row[1], row[2].split(" (")[0], row[3]] for row in rows
    ]
    assert ["<B>BAD</B>", "0123456748"] in [row[:2] for row in rows]
    assert "<B>BAD</B>" not in page
    assert "&lt;B&gt;BAD&lt;/B&gt;" in page
    assert "AdminPulse, the client&#x27;s relation: KBO number" in page  # where to fix it
    assert INVALID_NRN not in page
    assert not any(part in page for part in ("<script", "src=", "href="))  # self-contained


def test_the_trend_shows_created_and_rejected_of_the_last_runs(sandbox, tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    # A report a crashed run left half-written: the trend leaves it out instead of failing.
    (reports / "import-20000101T000000000000Z.json").write_text('{"counts": ')
    company = relation("bad", "company", vatNumber="0123456748")
    person = relation("new", nationalRegisterNumber=nrn("850730", 33))

    run_target(sandbox, tmp_path, messages([company, person]))
    run_target(sandbox, tmp_path, messages([company, person]))

    pages = sorted(reports.glob("import-*.html"))
    assert len(pages) == 2
    tables = Tables(pages[-1].read_text(encoding="utf-8"))
    trend = tables.rows_under("Last 2 runs")
    assert [row[1:] for row in trend] == [["1", "1"], ["0", "1"]]
    markdown = sorted(reports.glob("import-*.md"))[-1].read_text(encoding="utf-8")
    assert "## Last 2 runs" in markdown
    assert markdown.index("| 1 | 1 |") < markdown.index("| 0 | 1 |")
