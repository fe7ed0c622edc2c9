#!/usr/bin/env bash
# Runs compare.sh with Gatehouse as one more target, side by side with Apache + mod_auth_openidc,
# express-openid-connect and a bare node:http proxy, all against the same IdP and upstream.
# Gatehouse's copy of the shared harness (issue 24) adds the bearer callers: apache-bearer
# (mod_auth_openidc as an OAuth 2.0 resource server, the script's own JWT), gatehouse-soap (a
# SOAP IdentityToken) and gatehouse-token (a Gatehouse API token), each sending only
# `Authorization: Bearer …` (bench/harness-bearer.ts signs the Gatehouse ones in).
#
#   bench/perf/with-gatehouse.sh [compare.sh options]        # from the Gatehouse checkout
#   bench/perf/with-gatehouse.sh -d 3s -r 1 --only bare,apache,apache-bearer,gatehouse,gatehouse-soap,gatehouse-token
#   GATEHOUSE_STORE=redis GATEHOUSE_REDIS_URL=redis://127.0.0.1:6379 bench/perf/with-gatehouse.sh -r 5
#
# GATEHOUSE_* variables in the environment pass through to Gatehouse. The harness writes
# node_modules and results next to itself, so it runs from a copy in a scratch folder (printed
# at the start); shared/ itself stays untouched.
# Needs: apt-get install -y wrk apache2 libapache2-mod-auth-openidc
set -euo pipefail
project="$(pwd)"
grep -q '"name": "gatehouse"' "$project/package.json" 2>/dev/null || { echo "run this from the Gatehouse checkout" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="${PERF_WORK_DIR:-${TMPDIR:-/tmp}/gatehouse-perf-bench}"
mkdir -p "$work"
tar -C "$here" --exclude=node_modules --exclude=run -cf - . | tar -C "$work" -xf -
chmod -R u+w "$work"
echo "harness copy: $work (results under $work/run/results/)"

cat > "$work/gatehouse-apis.json" <<'JSON'
{ "upstreams": [ { "name": "u", "url": "http://127.0.0.1:3301", "token": "user" } ] }
JSON
cat > "$work/gatehouse-spawn.sh" <<SPAWN
#!/usr/bin/env bash
cd "$project"
export NODE_ENV=development   # the harness speaks plain http on loopback; production refuses http URLs
export GATEHOUSE_PORT=3340 GATEHOUSE_PUBLIC_URL=http://127.0.0.1:3340
export GATEHOUSE_OIDC_ISSUER=http://127.0.0.1:3302 GATEHOUSE_OIDC_CLIENT_ID=bff
export GATEHOUSE_OIDC_CLIENT_SECRET=bff-secret-0123456789abcdef0123456789abcdef
export GATEHOUSE_SESSION_SECRET=perf-session-secret-0123456789abcdef0123456789
export GATEHOUSE_APIS="$work/gatehouse-apis.json"
exec npm start --silent
SPAWN
chmod +x "$work/gatehouse-spawn.sh"

# /api/u/api/echo ends in /api/echo, so compare.sh's --path rewriting works for Gatehouse too.
# The bearer callers reach the same Gatehouse (started once, by the first target).
bearer() { printf 'cd %q && npx tsx bench/harness-bearer.ts %s' "$project" "$1"; }
exec "$work/compare.sh" "$@" \
  --target gatehouse http://127.0.0.1:3340/api/u/api/echo \
  'node "$PERF_LOGIN" --start http://127.0.0.1:3340/auth/login --check http://127.0.0.1:3340/api/u/api/echo' \
  --spawn "$work/gatehouse-spawn.sh" \
  --target gatehouse-soap http://127.0.0.1:3340/api/u/api/echo "$(bearer soap)" \
  --target gatehouse-token http://127.0.0.1:3340/api/u/api/echo "$(bearer api-token)"
