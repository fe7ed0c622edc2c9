#!/usr/bin/env python3
"""Gets a Gatehouse API token by device sign-in (RFC 8628), with the Python standard library only.

    python3 device_login.py https://gatehouse.example.org --client-name "my-cli" --days 30

It prints where to approve (a URL and a code), polls until you approve on /device in your
browser, and then prints the token on stdout (nothing else goes to stdout), so:

    export GATEHOUSE_TOKEN="$(python3 device_login.py https://gatehouse.example.org)"

The token is a Gatehouse API token (gh_...): it reaches /api/<name>/... with
"Authorization: Bearer <token>". No IdP token, client secret or password is involved.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def post_form(url, fields):
    """POSTs a form; returns (status, JSON body). OAuth errors come as JSON 400s."""
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.load(error)
        except ValueError:
            return error.code, {"error": "http_%d" % error.code}


def device_login(base_url, client_name, token_name=None, days=None, upstreams=None, read_only=False, sleep=time.sleep):
    base_url = base_url.rstrip("/")
    fields = {"client_name": client_name}
    if token_name:
        fields["token_name"] = token_name
    if days:
        fields["expires_in_days"] = str(days)
    if upstreams:
        fields["upstreams"] = " ".join(upstreams)
    if read_only:
        fields["read_only"] = "true"
    status, start = post_form(base_url + "/auth/device/code", fields)
    if status != 200:
        raise SystemExit("device sign-in refused: %s" % (start.get("message") or start.get("error")))

    print("To approve, open %s and enter the code %s" % (start["verification_uri"], start["user_code"]), file=sys.stderr)
    print("(or open %s)" % start["verification_uri_complete"], file=sys.stderr)
    sys.stderr.flush()

    interval = start.get("interval", 5)
    deadline = time.monotonic() + start.get("expires_in", 600)
    while time.monotonic() < deadline:
        sleep(interval)
        status, answer = post_form(base_url + "/auth/device/token", {"grant_type": GRANT_TYPE, "device_code": start["device_code"]})
        if status == 200:
            return answer["access_token"]
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5
            continue
        raise SystemExit("device sign-in ended: %s (%s)" % (error, answer.get("error_description", "")))
    raise SystemExit("device sign-in ended: expired_token")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gatehouse_url", help="e.g. https://gatehouse.example.org")
    parser.add_argument("--client-name", default="device_login.py", help="shown to you on the approval page")
    parser.add_argument("--token-name", help="the token's name on /tokens (default: the client name)")
    parser.add_argument("--days", type=int, help="token lifetime in days (default: the server's maximum)")
    parser.add_argument("--upstream", action="append", dest="upstreams", help="an API the token may reach (repeat; default: all)")
    parser.add_argument("--read-only", action="store_true", help="GET and HEAD only")
    args = parser.parse_args()
    token = device_login(args.gatehouse_url, args.client_name, args.token_name, args.days, args.upstreams, args.read_only)
    print(token)


if __name__ == "__main__":
    main()
