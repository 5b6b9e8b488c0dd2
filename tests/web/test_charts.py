"""web/charts.py: SVG charts drawn on the server, checked on known data."""

from __future__ import annotations

import re
from decimal import Decimal
from xml.etree import ElementTree

from alliance.web.charts import Series, bar_chart, legend, line_chart, nice_ceiling

DAYS = ["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04"]


def parse(svg: str) -> ElementTree.Element:
    """The chart is well-formed XML (SVG inside HTML needs no namespace)."""
    return ElementTree.fromstring(svg)


def test_line_chart_has_a_point_per_value_and_a_line_per_series() -> None:
    svg = line_chart(
        "c",
        "Clicks per day",
        "Clicks and valid clicks",
        DAYS,
        [Series("Clicks", [3, 5, 0, 2]), Series("Valid clicks", [2, None, 0, 1])],
        y_label="Clicks",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.find("title").text == "Clicks per day"  # type: ignore[union-attr]
    assert root.find("desc").text == "Clicks and valid clicks"  # type: ignore[union-attr]
    groups = root.findall("g")
    assert [g.get("class") for g in groups] == ["series series-0", "series series-1"]
    assert len(groups[0].findall("circle")) == 4
    assert len(groups[1].findall("circle")) == 3  # no point where there is no value
    assert len(root.findall(".//polyline")) == 2
    tips = [c.find("title").text for c in groups[0].findall("circle")]  # type: ignore[union-attr]
    assert tips == [
        "Clicks, 2024-04-01: 3",
        "Clicks, 2024-04-02: 5",
        "Clicks, 2024-04-03: 0",
        "Clicks, 2024-04-04: 2",
    ]
    # The highest point (5) sits under the top of the axis (6), zero on the baseline.
    ys = [float(c.get("cy", "0")) for c in groups[0].findall("circle")]
    assert ys[1] == min(ys) and ys[2] == max(ys)
    texts = [t.text for t in root.iter("text")]
    assert "Clicks" in texts and "Day" in texts  # axis labels
    assert "2024-04-01" in texts and "2024-04-04" in texts


def test_long_series_show_a_few_x_labels_and_every_point() -> None:
    days = [f"d{i}" for i in range(90)]
    root = parse(line_chart("c", "t", "d", days, [Series("s", list(range(90)))]))
    assert len(root.findall(".//circle")) == 90
    shown = [t.text for t in root.iter("text") if t.text and t.text.startswith("d")]
    assert 2 <= len(shown) <= 10 and shown[0] == "d0" and shown[-1] == "d89"


def test_a_single_day_and_all_zeroes_still_draw() -> None:
    root = parse(line_chart("c", "t", "d", ["2024-04-01"], [Series("s", [0])]))
    assert len(root.findall(".//circle")) == 1
    assert root.findall(".//polyline") == []


def test_bar_chart_shows_the_ten_largest_largest_first() -> None:
    bars = [(f"partner {i}", i) for i in range(15)]
    root = parse(bar_chart("b", "Valid clicks by partner", "top 10", bars, value_label="Clicks"))
    rects = root.findall(".//rect")
    assert len(rects) == 10
    tips = [g.find("title").text for g in root.findall("g")]  # type: ignore[union-attr]
    assert tips[0] == "partner 14: 14" and tips[-1] == "partner 5: 5"
    widths = [float(r.get("width", "0")) for r in rects]
    assert widths == sorted(widths, reverse=True)
    assert all(r.get("class") == "bar series-0" for r in rects)


def test_money_values_and_custom_format() -> None:
    svg = bar_chart(
        "b", "Sales", "d", [("a", Decimal("12.50")), ("b", Decimal("3"))], fmt=lambda v: f"€{v}"
    )
    assert "<title>a: €12.50</title>" in svg and "<title>b: €3</title>" in svg


def test_labels_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    svg = str(
        bar_chart("b", "By <sub-id>", "d & more", [(evil, 2), ('" onload="x', 1)])
        + line_chart("c", "t", "d", [evil], [Series(evil, [1])])
        + legend([evil])
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert '" onload="' not in svg
    assert "By &lt;sub-id&gt;" in svg and "d &amp; more" in svg


def test_no_style_attributes_colours_by_class_only() -> None:
    svg = str(
        line_chart("c", "t", "d", DAYS, [Series(f"s{i}", [1, 2, 3, 4]) for i in range(7)])
        + bar_chart("b", "t", "d", [("a", 1)])
    )
    assert "style=" not in svg and "fill=" not in svg and "stroke=" not in svg
    assert "series-6" not in svg  # seven series cycle through the six colours
    assert len(re.findall(r'class="line series-0"', svg)) == 2


def test_legend_names_each_series() -> None:
    html = legend(["Sales", "Commission"])
    assert html.count("<li>") == 2
    assert 'class="swatch series-1"' in html and "Commission" in html


def test_nice_ceiling() -> None:
    assert nice_ceiling(5) == (6, 2)
    assert nice_ceiling(97) == (100, 50)
    assert nice_ceiling(0) == (1.0, 0.25)
    top, step = nice_ceiling(1234.5)
    assert top >= 1234.5 and top / step <= 5
