"""Sum every suite's results into CI's closing line.

Reads, from RESULTS_DIR: setup.rc and lint.rc (the exit status of `make setup system-deps` and
of the lint step, each counted as one test), jest.json (jest --json), pytest.xml (JUnit) and
playwright.json (the Playwright json reporter). Prints a line per suite, then `N passed, N failed`
alone on the last line. Exits 1 when anything failed or a suite left no results (a missing file
counts as one failure, named).
"""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def jest(path: Path) -> tuple[int, int]:
    report = json.loads(path.read_text())
    failed = report["numFailedTests"] + report.get("numRuntimeErrorTestSuites", 0)
    if not report.get("success", True) and not failed:
        failed = 1  # jest failed without a failed test (e.g. a suite it could not run)
    return report["numPassedTests"], failed


def pytest(path: Path) -> tuple[int, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - failed - skipped, failed


def playwright(path: Path) -> tuple[int, int]:
    report = json.loads(path.read_text())
    stats = report["stats"]
    failed = stats.get("unexpected", 0) + stats.get("flaky", 0) + len(report.get("errors", []))
    return stats.get("expected", 0), failed


def exit_status(path: Path) -> tuple[int, int]:
    return (1, 0) if int(path.read_text()) == 0 else (0, 1)


SUITES = {
    "setup": ("setup.rc", exit_status),
    "lint": ("lint.rc", exit_status),
    "jest": ("jest.json", jest),
    "pytest": ("pytest.xml", pytest),
    "galata": ("playwright.json", playwright),
}


def main(results: Path) -> int:
    passed = failed = 0
    for name, (filename, read) in SUITES.items():
        path = results / filename
        if not path.is_file():
            print(f"{name}: no results ({path} is missing), counted as 1 failed")
            failed += 1
            continue
        try:
            p, f = read(path)
        except (ValueError, KeyError, ET.ParseError) as error:
            print(f"{name}: unreadable results in {path} ({error}), counted as 1 failed")
            failed += 1
            continue
        print(f"{name}: {p} passed, {f} failed")
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_tests.py RESULTS_DIR")
    sys.exit(main(Path(sys.argv[1])))
