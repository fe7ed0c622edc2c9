#!/bin/sh
# Calls a Gatehouse API with an API token, with curl.
#
#   export GATEHOUSE_URL=https://gatehouse.example.org
#   export GATEHOUSE_TOKEN=gh_...        # from /tokens, or device_login.py
#   sh call_api.sh renku/user            # GET /api/renku/user
#   sh call_api.sh renku/projects -X POST -H 'Content-Type: application/json' -d '{"name":"x"}'
set -eu
: "${GATEHOUSE_URL:=http://localhost:3000}"
if [ -z "${GATEHOUSE_TOKEN:-}" ]; then
  echo "set GATEHOUSE_TOKEN (create one at $GATEHOUSE_URL/tokens)" >&2
  exit 2
fi
if [ $# -lt 1 ]; then
  echo "usage: call_api.sh <name>/<path> [curl options]" >&2
  exit 2
fi
path=$1
shift
# The header comes from stdin (-H @-), so the token is not in the process list.
# --fail-with-body: exit non-zero on 4xx/5xx but still print Gatehouse's JSON error
# (invalid_token, session_expired: make a new token at /tokens; token_scope: not allowed).
printf 'Authorization: Bearer %s\n' "$GATEHOUSE_TOKEN" |
  curl --silent --show-error --fail-with-body -H @- "$@" "${GATEHOUSE_URL%/}/api/${path#/}"
echo
