"""Schemathesis hooks for the contract check (see .ci/contract-check).

The fuzzer acts as the admin (schemathesis.toml logs in through POST /auth/tokens). Left
alone it would soon PUT or PATCH the admin's own user with a generated password or e-mail
address, and every later request would be a 401. Requests that would change the admin itself
are pointed at another id instead; deleting the admin is refused by the service (last admin).
"""
import os

import schemathesis

ADMIN_ID = os.environ["CI_ADMIN_ID"]
# An id no user has, within the largest id PUT /users/{id} takes (2^53 - 1).
ELSEWHERE = "9000000000000000"


@schemathesis.hook
def before_call(context, case, kwargs):
    parameters = case.path_parameters or {}
    if case.method.upper() in ("PUT", "PATCH") and str(parameters.get("id")) == ADMIN_ID:
        parameters["id"] = ELSEWHERE
