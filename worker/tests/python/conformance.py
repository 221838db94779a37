"""Checks a live worker's answers against worker/openapi.yaml, one call at a time.

Usage: python conformance.py OPENAPI_YAML BASE_URL

Reads one JSON object per stdin line: {"method", "path" (a path template of the
description), "path_parameters", "query", "body" (optional)}. Makes the request
with schemathesis (the code that fuzzes the API) and runs its response checks: the
status code is declared for the operation, the content type is declared, the body
validates against the declared schema, the declared headers are there, no 5xx.
Writes one JSON object per line: {"status", "body" (JSON, or text), "problems"
(one text per failed check; empty when the response conforms)}.
"""

import json
import sys

import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance


def main() -> None:
    spec, base_url = sys.argv[1], sys.argv[2]
    schema = schemathesis.openapi.from_path(spec)
    for line in sys.stdin:
        call = json.loads(line)
        operation = schema[call["path"]][call["method"]]
        arguments = {"path_parameters": call.get("path_parameters") or {}}
        if call.get("query"):
            arguments["query"] = call["query"]
        if "body" in call:
            arguments["body"] = call["body"]
            arguments["media_type"] = "application/json"
        case = operation.Case(**arguments)
        response = case.call(base_url=base_url, timeout=30)
        problems = []
        try:
            # Some calls send what the description forbids on purpose, to see the 4xx.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
        except FailureGroup as group:
            problems = [f"{type(f).__name__}: {f.title}: {f.message}" for f in group.exceptions]
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = response.content.decode("utf-8", "replace")
        print(
            json.dumps({"status": response.status_code, "body": body, "problems": problems}),
            flush=True,
        )


if __name__ == "__main__":
    main()
