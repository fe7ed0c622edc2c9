#!/usr/bin/env python3
"""Calls a Gatehouse API with an API token, Python standard library only.

    export GATEHOUSE_URL=https://gatehouse.example.org
    export GATEHOUSE_TOKEN=gh_...        # from /tokens, or device_login.py
    python3 call_api.py renku/user       # GET /api/renku/user, JSON on stdout
"""
import json
import os
import sys
import urllib.error
import urllib.request

HINTS = {
    "invalid_token": "the token is unknown, revoked or expired: create a new one at /tokens",
    "session_expired": "the token's sign-in at the identity provider has ended: create a new one at /tokens",
    "token_scope": "the token may not do this (other API or a write with a read-only token)",
}


def call_api(path, method="GET", body=None):
    base_url = os.environ.get("GATEHOUSE_URL", "http://localhost:3000").rstrip("/")
    token = os.environ.get("GATEHOUSE_TOKEN")
    if not token:
        raise SystemExit("set GATEHOUSE_TOKEN (create one at %s/tokens)" % base_url)
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request("%s/api/%s" % (base_url, path.lstrip("/")), data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        try:
            answer = json.load(error)
        except ValueError:
            answer = {}
        code = answer.get("error") if isinstance(answer, dict) else None
        raise SystemExit("HTTP %d %s: %s" % (error.code, code or "", HINTS.get(code, answer.get("message", "") if isinstance(answer, dict) else "")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: call_api.py <name>/<path>, e.g. renku/user")
    json.dump(call_api(sys.argv[1]), sys.stdout, indent=2)
    print()
