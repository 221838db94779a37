"""schemathesis hooks of the worker's fuzz test (tests/tests/worker_openapi.rs).

The test keeps one connector streaming, named by PGCDC_FUZZ_CONNECTOR, and checks
after the run that it still runs with its configuration unchanged. Reads of it are
what the fuzzer should see (worker/schemathesis.toml points them at it). Every other
request whose path names it — a DELETE, a PUT of its configuration, a pause, stop or
restart, an offsets change — is sent to the decoy instead, PGCDC_FUZZ_DECOY, a second
connector that the fuzzer may change as it likes. (schemathesis fills path parameters
with names it has seen in responses, so it does find the guarded connector's name.)
Creating a connector of the guarded name needs no guard: the worker answers 409.

The decoy is created again whenever a DELETE removed it, from PGCDC_FUZZ_DECOY_CONFIG,
so that a request sent to it never finds it missing (schemathesis would read a 404
after a creation as a lost resource).
"""

import json
import os
import sys

import requests
import schemathesis

GUARDED = os.environ["PGCDC_FUZZ_CONNECTOR"]
DECOY = os.environ["PGCDC_FUZZ_DECOY"]
DECOY_CONFIG = json.loads(os.environ["PGCDC_FUZZ_DECOY_CONFIG"])
URL = os.environ["PGCDC_FUZZ_URL"]


@schemathesis.hook
def before_call(context, case, kwargs):
    parameters = case.path_parameters or {}
    if case.method.upper() != "GET" and parameters.get("name") == GUARDED:
        parameters["name"] = DECOY
        print(f"fuzz_hooks: {case.method} {case.path} sent to {DECOY}", file=sys.stderr)


@schemathesis.hook
def after_call(context, case, response):
    parameters = case.path_parameters or {}
    if (
        case.method.upper() == "DELETE"
        and case.path == "/connectors/{name}"
        and parameters.get("name") == DECOY
        and response.status_code == 204
    ):
        created = requests.put(f"{URL}/connectors/{DECOY}/config", json=DECOY_CONFIG, timeout=30)
        if created.status_code != 201:
            raise RuntimeError(f"the decoy was not created again: {created.status_code} {created.text}")
