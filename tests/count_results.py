#!/usr/bin/env python3
"""Counts individual test cases from meson's logs and prints 'N passed, N failed'.

gtest suites (protocol: 'gtest') contribute one JUnit <testcase> per TEST(); a suite binary
that crashed or timed out before writing its report counts as one failure. Exit status 1 when
anything failed or nothing ran.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

logdir = sys.argv[1]
junit = os.path.join(logdir, "testlog.junit.xml")
jsonlog = os.path.join(logdir, "testlog.json")

passed = failed = skipped = 0
suite_failures = {}
if os.path.exists(junit):
    tree = ET.parse(junit)
    for suite in tree.getroot().iter("testsuite"):
        name = suite.get("name", "")
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                suite_failures[name] = suite_failures.get(name, 0) + 1
            elif case.find("skipped") is not None or case.get("status") == "notrun":
                skipped += 1
            else:
                passed += 1

# A binary that failed without any failing case in the JUnit (crash, timeout, leak report at
# exit, missing XML) still counts as one failure.
if os.path.exists(jsonlog):
    with open(jsonlog) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
                continue
            name = t.get("name", "")
            if not any(name in s or s in name for s in suite_failures):
                print(f"suite {name}: {t.get('result')} (no failing case reported; counted as 1 failure)")
                failed += 1

line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
