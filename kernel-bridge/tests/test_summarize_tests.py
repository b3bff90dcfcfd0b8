"""CI's closing line: scripts/summarize_tests.py on result files in the suites' real formats."""

import json
import subprocess
import sys

import pytest

PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="1" tests="{tests}">
</testsuite></testsuites>"""


def write_results(folder, *, jest_failed=0, pytest_failures=0, galata_unexpected=0, lint_rc=0):
    folder.mkdir(exist_ok=True)
    (folder / "setup.rc").write_text("0\n")
    (folder / "lint.rc").write_text(f"{lint_rc}\n")
    jest = {
        "numPassedTests": 10,
        "numFailedTests": jest_failed,
        "numRuntimeErrorTestSuites": 0,
        "success": jest_failed == 0,
    }
    (folder / "jest.json").write_text(json.dumps(jest))
    xml = PYTEST_XML.format(errors=0, failures=pytest_failures, tests=5 + pytest_failures)
    (folder / "pytest.xml").write_text(xml)
    galata = {
        "stats": {"expected": 2, "skipped": 0, "unexpected": galata_unexpected, "flaky": 0},
        "errors": [],
    }
    (folder / "playwright.json").write_text(json.dumps(galata))
    return folder


def summarize(root, folder):
    return subprocess.run(
        [sys.executable, root / "scripts" / "summarize_tests.py", folder],
        capture_output=True,
        text=True,
    )


def test_all_green_sums_every_suite(root, tmp_path):
    result = summarize(root, write_results(tmp_path / "results"))
    lines = result.stdout.splitlines()
    # setup 1 + lint 1 + jest 10 + pytest 4 (one skipped) + galata 2
    assert lines[-1] == "18 passed, 0 failed"
    assert "pytest: 4 passed, 0 failed" in lines
    assert result.returncode == 0


@pytest.mark.parametrize(
    "failure, line",
    [
        ({"jest_failed": 2}, "18 passed, 2 failed"),
        ({"pytest_failures": 1}, "18 passed, 1 failed"),
        ({"galata_unexpected": 1}, "18 passed, 1 failed"),
        ({"lint_rc": 2}, "17 passed, 1 failed"),
    ],
)
def test_a_failure_anywhere_fails_the_run(root, tmp_path, failure, line):
    result = summarize(root, write_results(tmp_path / "results", **failure))
    assert result.stdout.splitlines()[-1] == line
    assert result.returncode == 1


def test_a_missing_or_unreadable_suite_counts_as_failed_and_is_named(root, tmp_path):
    folder = write_results(tmp_path / "results")
    (folder / "playwright.json").unlink()
    (folder / "jest.json").write_text("{ truncated")
    result = summarize(root, folder)
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("galata: no results") and "playwright.json" in line for line in lines
    )
    assert any(line.startswith("jest: unreadable results") for line in lines)
    assert lines[-1] == "6 passed, 2 failed"
    assert result.returncode == 1


def test_the_playwright_run_errors_count_as_failures(root, tmp_path):
    folder = write_results(tmp_path / "results")
    report = {
        "stats": {"expected": 0, "skipped": 0, "unexpected": 0, "flaky": 0},
        "errors": [{"message": "Error: Timed out waiting 120000ms from config.webServer."}],
    }
    (folder / "playwright.json").write_text(json.dumps(report))
    result = summarize(root, folder)
    assert "galata: 0 passed, 1 failed" in result.stdout.splitlines()
    assert result.returncode == 1
