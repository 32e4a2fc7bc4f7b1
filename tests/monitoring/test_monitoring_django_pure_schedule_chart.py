"""Pure helpers: the follow-up schedule from a protocol and the server-rendered SVG chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from anagen.monitoring import charts, schedule

START = date(2026, 1, 5)


def test_monthly_course_gives_baseline_pre_session_visits_and_follow_ups_in_order():
    visits = schedule.build_schedule(START, 3, 4, (4, 12, 24, 48))
    got = [(v.due_date - START).days // 7 for v in visits]
    # Sessions at weeks 0, 4, 8; follow-ups 4 (merged with session 2), 12, 24, 48.
    assert got == [0, 4, 8, 12, 24, 48]
    assert visits[0].kind == schedule.BASELINE and visits[0].session_number == 1
    assert visits[1].kind == schedule.PRE_SESSION and visits[1].session_number == 2
    assert "Week 4 follow-up" in visits[1].label and "session 2" in visits[1].label
    assert visits[2].label == "Before session 3 (week 8)"
    assert [v.kind for v in visits[3:]] == [schedule.FOLLOW_UP] * 3
    assert [v.due_date for v in visits] == sorted(v.due_date for v in visits)


def test_fractional_interval_rounds_session_days_and_labels_without_a_week():
    visits = schedule.build_schedule(START, 3, 2.5, (12,))
    pre = [v for v in visits if v.kind == schedule.PRE_SESSION]
    assert [(v.due_date - START).days for v in pre] == [18, 35]  # 2.5 weeks = 17.5 days → 18
    assert pre[0].week is None and pre[1].week == 5


def test_single_session_needs_no_interval():
    visits = schedule.build_schedule(START, 1, 0, (4,))
    assert [(v.kind, v.due_date) for v in visits] == [
        (schedule.BASELINE, START),
        (schedule.FOLLOW_UP, START + timedelta(weeks=4)),
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sessions_planned": 0}, "sessions_planned"),
        ({"sessions_planned": 99}, "sessions_planned"),
        ({"sessions_planned": True}, "sessions_planned"),
        ({"interval_weeks": 0}, "interval_weeks"),
        ({"interval_weeks": float("nan")}, "interval_weeks"),
        ({"follow_up_weeks": ()}, "follow_up_weeks"),
        ({"follow_up_weeks": (0,)}, "follow_up_weeks"),
        ({"follow_up_weeks": (-4,)}, "follow_up_weeks"),
    ],
)
def test_impossible_schedules_name_the_field(kwargs, field):
    args = {"sessions_planned": 3, "interval_weeks": 4, "follow_up_weeks": (4, 12)} | kwargs
    with pytest.raises(schedule.ScheduleError) as err:
        schedule.build_schedule(START, **args)
    assert err.value.field == field


def test_parse_weeks_sorts_deduplicates_and_rejects_words():
    assert schedule.parse_weeks("48, 4;12,4") == (4, 12, 48)
    with pytest.raises(schedule.ScheduleError):
        schedule.parse_weeks("4, twelve")


def test_overdue_only_when_not_done_and_past_grace():
    today = date(2026, 3, 10)
    assert schedule.is_overdue(date(2026, 3, 1), today, done=False, grace_days=7)
    assert not schedule.is_overdue(date(2026, 3, 5), today, done=False, grace_days=7)
    assert not schedule.is_overdue(date(2026, 3, 1), today, done=True, grace_days=7)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML or this raises


NS = "{http://www.w3.org/2000/svg}"


def test_chart_is_accessible_svg_with_one_point_per_value_and_escaped_text():
    pts = [(date(2026, 1, 1), 120.0), (date(2026, 4, 1), 131.5), (date(2026, 7, 1), 140.0)]
    svg = charts.line_chart_svg(
        pts, title="Density <of> A & B", description="three visits", y_label="hairs/cm²",
        reference=120.0,
    )  # fmt: skip
    root = _parse(svg)
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "Density <of> A & B"
    assert root.find(f"{NS}desc").text == "three visits"
    circles = root.findall(f"{NS}circle")
    assert len(circles) == 3
    # Higher density is drawn higher up (smaller y).
    ys = [float(c.get("cy")) for c in circles]
    assert ys[0] > ys[1] > ys[2]
    # The dashed baseline reference sits at the first point's height.
    dashed = [ln for ln in root.findall(f"{NS}line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 1 and abs(float(dashed[0].get("y1")) - ys[0]) < 0.2
    assert "<script" not in svg and "style=" not in svg


def test_chart_without_data_says_so_and_skips_non_finite_values():
    root = _parse(charts.line_chart_svg([], title="t", description="d", y_label="y"))
    assert "No data" in "".join(root.itertext())
    root = _parse(
        charts.line_chart_svg(
            [(date(2026, 1, 1), float("nan")), (date(2026, 2, 1), 100.0)],
            title="t",
            description="d",
            y_label="y",
        )  # fmt: skip
    )
    assert len(root.findall(f"{NS}circle")) == 1


@pytest.mark.parametrize("days", [[0, 7], [0, 30, 60, 61, 62, 90, 300, 301, 365], [0, 1, 2]])
def test_date_labels_stay_on_the_chart_and_do_not_overlap(days):
    start = date(2026, 1, 5)
    series = [(start + timedelta(days=n), 150.0 + n / 10) for n in days]
    svg = charts.line_chart_svg(series, title="t", description="d", y_label="y")
    spans = []
    for x, anchor, text in re.findall(
        r'<text x="([\d.]+)" y="[\d.]+" text-anchor="(start|middle|end)" font-size="11" '
        r'fill="#5b6b76">(\d{4}-\d\d-\d\d)</text>',
        svg,
    ):
        left = {"start": 0, "middle": -0.5, "end": -1}[anchor] * charts.DATE_LABEL_PX + float(x)
        spans.append((left, left + charts.DATE_LABEL_PX, text))
    assert spans[0][2] == series[0][0].isoformat()  # the first date is always labelled
    assert all(a >= 0 and b <= charts.WIDTH for a, b, _ in spans)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False))
    if len(days) > 3:
        assert spans[-1][2] == series[-1][0].isoformat()
