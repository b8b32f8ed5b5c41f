#!/usr/bin/env python3
"""Judge a WLCS run against the list of tests Quay fails on purpose.

Usage: check.py RESULTS.json EXPECTED_FAILURES

RESULTS.json is googletest's JSON report (wlcs --gtest_output=json:FILE).
EXPECTED_FAILURES lists, one pattern a line (fnmatch, on the full
"Suite/Instance.test/N" name), the tests Quay fails deliberately, each
under a comment that says why. Exit 0 only when every test that failed is
listed and every listed pattern matched a failed test (a listed test that
passes now must leave the list). Prints the counts on one line for
scripts/test.
"""

import fnmatch
import json
import sys


def load_patterns(path):
    patterns = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                patterns.append(line)
    return patterns


def main():
    results_path, expected_path = sys.argv[1], sys.argv[2]
    with open(results_path, encoding="utf-8") as f:
        report = json.load(f)
    patterns = load_patterns(expected_path)

    passed, failed, skipped = [], [], []
    for suite in report.get("testsuites", []):
        for test in suite.get("testsuite", []):
            name = f"{suite['name']}.{test['name']}"
            failures = test.get("failures") or []
            # WLCS skips a test that needs an extension Quay does not offer
            # by throwing; its console says SKIP, googletest's report
            # records the exception as a failure.
            unsupported = failures and all(
                "not supported by compositor under test" in f.get("failure", "") for f in failures
            )
            if test.get("result") == "SKIPPED" or test.get("status") == "NOTRUN" or unsupported:
                skipped.append(name)
            elif test.get("failures"):
                failed.append(name)
            else:
                passed.append(name)

    expected = [n for n in failed if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    unexpected = [n for n in failed if n not in expected]
    stale = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in failed)]
    # A pattern that matches a passing test hides nothing but says too much.
    too_wide = sorted({p for p in patterns for n in passed if fnmatch.fnmatchcase(n, p)})

    for n in unexpected:
        print(f"wlcs: FAILED, not in the list: {n}")
    for p in stale:
        print(f"wlcs: listed but passed (take it off the list): {p}")
    for p in too_wide:
        print(f"wlcs: listed pattern also matches passing tests (narrow it): {p}")
    ok = not unexpected and not stale and not too_wide
    print(
        f"wlcs: {len(passed)} passed, {len(expected)} failed as listed, "
        f"{len(unexpected)} failed unlisted, {len(skipped)} skipped "
        f"(extension not offered), {len(stale)} listed but passed"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
