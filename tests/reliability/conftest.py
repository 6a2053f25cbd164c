"""Fixtures of the reliability tests: their size, and the figures they report.

``--long`` runs them at full size. Each test records its figures as a
``reliability`` user property; a run of this directory prints them at the end
(also under xdist, whose workers send user properties back with the reports).
"""

import pytest


@pytest.fixture(scope="session")
def long_run(request) -> bool:
    """Return whether --long asked for the full-size runs."""
    return bool(request.config.getoption("--long"))


@pytest.fixture
def report(record_property):
    """Return a function that prints a line of figures and records it for the summary."""

    def report_figures(line: str) -> None:
        print(line)
        record_property("reliability", line)

    return report_figures


def pytest_terminal_summary(terminalreporter):
    lines = []
    for key in ("passed", "failed", ""):
        for report in terminalreporter.stats.get(key, []):
            for name, value in getattr(report, "user_properties", ()):
                line = f"{report.nodeid.split('::')[-1]}: {value}"
                if name == "reliability" and line not in lines:
                    lines.append(line)
    if lines:
        terminalreporter.section("reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
