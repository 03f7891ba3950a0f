"""Reads a JUnit XML file as CI systems do and prints what it found, as JSON."""
import json
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
found = {"suites": [], "failed": {}, "errored": {}, "passed": []}
for suite in suites:
    found["suites"].append({k: suite.get(k) for k in ("name", "tests", "failures", "errors")})
    for case in suite.findall("testcase"):
        name = case.get("name")
        failure, error = case.find("failure"), case.find("error")
        if failure is not None:
            found["failed"][name] = failure.get("message")
        elif error is not None:
            found["errored"][name] = error.get("message")
        else:
            found["passed"].append(name)
print(json.dumps(found))
