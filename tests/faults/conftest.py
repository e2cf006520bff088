"""Fault and abuse suite (`make test-faults`; CI runs it inside `make test`)."""

import pytest

from .report import REPORT


@pytest.fixture
def fault_report():
    return REPORT


def pytest_terminal_summary(terminalreporter):
    if REPORT.rows:
        terminalreporter.section("fault and abuse suite")
        for line in REPORT.table():
            terminalreporter.write_line(line)
