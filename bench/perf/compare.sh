#!/usr/bin/env bash
# Side-by-side load comparison of OIDC BFF / reverse-proxy gateways.
#
# Starts: upstream API (3301), oidc-provider IdP (3302), Apache+mod_auth_openidc
# (3310), Express+express-openid-connect (3320), bare node proxy (3330), plus any
# --spawn'ed extra target; logs a user into every authenticated target; runs the
# same wrk load against each target, interleaved (A B C A B C ...); prints a table;
# optionally measures full login throughput; stops everything it started.
#
# Usage: tools/perf/compare.sh [options] [--target NAME URL LOGIN_CMD [--spawn CMD]]...
# Gatehouse's copy (bench/perf, issue 24) adds bearer callers: a LOGIN_CMD whose last line is
# `Authorization: Bearer …` makes its target send that header instead of a Cookie (and no
# login benchmark: a bearer caller signs in once). Built-in target apache-bearer: Apache +
# mod_auth_openidc as an OAuth 2.0 resource server (`AuthType oauth20`, the JWT access token
# verified against the IdP's JWKS, `aud` required), with the token of scripts/bearer-token.mjs.
#
#   -d, --duration D      wrk duration per run            (default 10s)
#   -c, --connections N   wrk connections                 (default 32)
#   -t, --threads N       wrk threads                     (default 2)
#   -r, --rounds N        interleaved rounds              (default 3)
#       --warmup D        unrecorded warm-up per target   (default 3s; 0 = none)
#       --path P          request path instead of /api/echo (e.g. /api/big); replaces a
#                         trailing /api/echo in every target URL
#       --login-bench S   whole seconds of sequential full logins per authenticated target
#                         (default 10; 0 = skip). A LOGIN_CMD that runs login.mjs is looped
#                         in-process (login.mjs --repeat-for S); any other command is run
#                         once per login (process start-up included).
#       --login-bench-process  run every LOGIN_CMD once per login, login.mjs ones too
#       --only LIST       comma list of targets to run (built-ins: upstream,bare,bare-undici,apache,apache-bearer,express)
#       --skip LIST       comma list of targets to leave out
#       --target NAME URL LOGIN_CMD
#                         extra target. URL = full URL loaded by wrk (e.g.
#                         http://127.0.0.1:3340/api/echo). LOGIN_CMD = shell command run in
#                         tools/perf whose last stdout line is the Cookie header value
#                         ("-" = no login). Env for it: PERF_DIR, PERF_LOGIN (login.mjs path),
#                         PERF_ISSUER, PERF_USER, PERF_PASSWORD.
#       --spawn CMD       start CMD (in tools/perf, own process group) for the preceding
#                         --target after the IdP and upstream are up; wait for URL's port;
#                         stop it at the end.
#
# Example with the future BFF:
#   tools/perf/compare.sh --target bff http://127.0.0.1:3340/api/echo \
#     'node $PERF_LOGIN --start http://127.0.0.1:3340/login --check http://127.0.0.1:3340/api/echo' \
#     --spawn 'node ../../path/to/bff/dist/server.js'
set -uo pipefail

PERF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$PERF_DIR/run"
export PERF_DIR PERF_LOGIN="$PERF_DIR/scripts/login.mjs" PERF_ISSUER="http://127.0.0.1:3302"
export PERF_USER="${PERF_USER:-alice}" PERF_PASSWORD="${PERF_PASSWORD:-wonderland}"
export NODE_ENV="${NODE_ENV:-production}"

DURATION=10s CONNS=32 THREADS=2 ROUNDS=3 WARMUP=3s REQ_PATH=/api/echo LOGIN_BENCH=10 LOGIN_PROC=0 ONLY="" SKIP=""
X_NAME=() X_URL=() X_LOGIN=() X_SPAWN=()

die() { echo "compare.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -d|--duration) DURATION="$2"; shift 2 ;;
    -c|--connections) CONNS="$2"; shift 2 ;;
    -t|--threads) THREADS="$2"; shift 2 ;;
    -r|--rounds) ROUNDS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --path) REQ_PATH="$2"; shift 2 ;;
    --login-bench) LOGIN_BENCH="$2"; shift 2 ;;
    --login-bench-process) LOGIN_PROC=1; shift ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --skip) SKIP=",$2,"; shift 2 ;;
    --target) [ $# -ge 4 ] || die "--target needs NAME URL LOGIN_CMD"
      X_NAME+=("$2"); X_URL+=("$3"); X_LOGIN+=("$4"); X_SPAWN+=(""); shift 4 ;;
    --spawn) [ ${#X_NAME[@]} -gt 0 ] || die "--spawn must follow a --target"
      X_SPAWN[${#X_SPAWN[@]}-1]="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v apache2 >/dev/null || echo "warning: apache2 not installed; the apache target will fail" >&2
{ [ -d "$PERF_DIR/node_modules/oidc-provider" ] && [ -d "$PERF_DIR/node_modules/undici" ]; } || (cd "$PERF_DIR" && npm install --no-audit --no-fund >/dev/null) || die "npm install failed"

mkdir -p "$RUN"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$RUN/results/$STAMP"
mkdir -p "$OUT"
: > "$OUT/runs.tsv"

# ---------- targets ----------
# name | url | login command ("-" = none) | spawn command
T_NAME=() T_URL=() T_LOGIN=() T_SPAWN=()
add_target() { T_NAME+=("$1"); T_URL+=("$2"); T_LOGIN+=("$3"); T_SPAWN+=("${4:-}"); }
add_target upstream "http://127.0.0.1:3301/api/echo" -
add_target bare     "http://127.0.0.1:3330/api/echo" -
add_target bare-undici "http://127.0.0.1:3331/api/echo" -
add_target apache   "http://127.0.0.1:3310/api/echo" 'node "$PERF_LOGIN" --start http://127.0.0.1:3310/api/echo --check http://127.0.0.1:3310/api/echo'
add_target apache-bearer "http://127.0.0.1:3310/bearer/api/echo" 'node scripts/bearer-token.mjs --check http://127.0.0.1:3310/bearer/api/echo'
add_target express  "http://127.0.0.1:3320/api/echo" 'node "$PERF_LOGIN" --start http://127.0.0.1:3320/login --check http://127.0.0.1:3320/api/echo'
for i in "${!X_NAME[@]}"; do add_target "${X_NAME[$i]}" "${X_URL[$i]}" "${X_LOGIN[$i]}" "${X_SPAWN[$i]}"; done

selected() {
  local n="$1"
  if [ -n "$ONLY" ] && [[ "$ONLY" != *",$n,"* ]]; then return 1; fi
  if [ -n "$SKIP" ] && [[ "$SKIP" == *",$n,"* ]]; then return 1; fi
  return 0
}
SEL=()
for i in "${!T_NAME[@]}"; do selected "${T_NAME[$i]}" && SEL+=("$i"); done
[ ${#SEL[@]} -gt 0 ] || die "no target selected"
want() { for i in "${SEL[@]}"; do [ "${T_NAME[$i]}" = "$1" ] && return 0; done; return 1; }

# ---------- process management (only what we start, by PID) ----------
PIDS=() PNAMES=() APACHE_STARTED=0
stop_all() {
  local i pid
  if [ "$APACHE_STARTED" = 1 ] && [ -s "$RUN/apache.pid" ]; then
    pid="$(cat "$RUN/apache.pid")"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    APACHE_STARTED=0
  fi
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    pid="${PIDS[$i]}"
    # spawned extras run in their own process group (setsid): signal the group
    if [ "${PNAMES[$i]#spawn:}" != "${PNAMES[$i]}" ]; then kill -TERM -- "-$pid" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
  done
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    pid="${PIDS[$i]}"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      if [ "${PNAMES[$i]#spawn:}" != "${PNAMES[$i]}" ]; then kill -KILL -- "-$pid" 2>/dev/null; else kill -KILL "$pid" 2>/dev/null; fi
    fi
    wait "$pid" 2>/dev/null
  done
  PIDS=() PNAMES=()
}
trap 'stop_all' EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
  local p="$1" n=$(( ${2:-20} * 10 ))
  for _ in $(seq "$n"); do port_busy "$p" && return 0; sleep 0.1; done
  return 1
}
start_node() { # name script port
  local name="$1" script="$2" port="$3"
  port_busy "$port" && die "port $port is already in use (is another run active?)"
  (cd "$PERF_DIR" && exec node "$script") > "$OUT/$name.log" 2>&1 &
  PIDS+=("$!"); PNAMES+=("$name")
  wait_port "$port" 20 || { cat "$OUT/$name.log" >&2; die "$name did not come up on $port"; }
}
url_port() { local hp="${1#*://}"; hp="${hp%%/*}"; case "$hp" in *:*) echo "${hp##*:}" ;; *) echo 80 ;; esac; }

# ---------- start ----------
echo "== perf run $STAMP: wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds, path $REQ_PATH"
echo "   $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), node $(node --version), $(apache2 -v 2>/dev/null | head -1 | sed 's/Server version: //'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), mod_auth_openidc $(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null)"
echo "   results in $OUT"
echo "   load average before start: $(cut -d' ' -f1-3 /proc/loadavg) (other busy processes on this machine add noise)"

start_node upstream servers/upstream.mjs 3301
start_node idp servers/idp.mjs 3302
if want bare; then start_node bare servers/bare-proxy.mjs 3330; fi
if want bare-undici; then start_node bare-undici servers/bare-undici-proxy.mjs 3331; fi
if want express; then start_node express servers/express-peer.mjs 3320; fi
if want apache || want apache-bearer; then
  port_busy 3310 && die "port 3310 is already in use"
  rm -f "$RUN/apache.pid"
  if apache2 -f "$PERF_DIR/apache/httpd.conf" -k start >"$OUT/apache-start.log" 2>&1; then
    APACHE_STARTED=1
    wait_port 3310 10 || echo "warning: apache did not open 3310" >&2
  else
    echo "warning: apache failed to start:" >&2; cat "$OUT/apache-start.log" >&2
  fi
fi
for i in "${SEL[@]}"; do
  if [ -n "${T_SPAWN[$i]}" ]; then
    port="$(url_port "${T_URL[$i]}")"
    port_busy "$port" && die "port $port for ${T_NAME[$i]} is already in use"
    (cd "$PERF_DIR" && exec setsid bash -c "${T_SPAWN[$i]}") > "$OUT/${T_NAME[$i]}.log" 2>&1 &
    PIDS+=("$!"); PNAMES+=("spawn:${T_NAME[$i]}")
    wait_port "$port" 60 || echo "warning: ${T_NAME[$i]} did not open port $port; see $OUT/${T_NAME[$i]}.log" >&2
  fi
done

# ---------- login ----------
declare -A COOKIE HEADER AUTH OKT
for i in "${SEL[@]}"; do
  n="${T_NAME[$i]}"; url="${T_URL[$i]}"
  if [ "$REQ_PATH" != /api/echo ]; then url="${url%/api/echo}$REQ_PATH"; T_URL[$i]="$url"; fi
  HEADER[$n]=""
  if [ "${T_LOGIN[$i]}" = - ]; then COOKIE[$n]=""; AUTH[$n]=0; OKT[$n]=1; continue; fi
  AUTH[$n]=1
  if c="$(cd "$PERF_DIR" && timeout 60 bash -c "${T_LOGIN[$i]}" 2>"$OUT/$n-login.err" | tail -n1)" && [ -n "$c" ]; then
    # A bearer caller's login prints its header; a browser's prints its cookies.
    if [[ "$c" == "Authorization: "* ]]; then HEADER[$n]="$c"; COOKIE[$n]=""; else HEADER[$n]="Cookie: $c"; COOKIE[$n]="$c"; fi
    code="$(curl -s -o "$OUT/$n-check.body" -w '%{http_code}' -H "${HEADER[$n]}" -H "X-CSRF: 1" "$url")"
    if [ "$code" = 200 ] && { [ "$REQ_PATH" != /api/echo ] || grep -q '"bearer":true' "$OUT/$n-check.body"; }; then
      OKT[$n]=1; echo "   login $n: ok (${HEADER[$n]%%:*} ${#c} bytes)"
    else
      OKT[$n]=0; echo "   login $n: FAILED check: HTTP $code $(head -c 200 "$OUT/$n-check.body")" >&2
    fi
  else
    OKT[$n]=0; echo "   login $n: FAILED: $(tail -n3 "$OUT/$n-login.err")" >&2
  fi
done

stats() { curl -s --max-time 2 http://127.0.0.1:3301/__stats || echo '{}'; }
run_wrk() { # name url dur outfile
  local n="$1" url="$2" dur="$3" f="$4"
  if [ -n "${COOKIE[$n]}" ]; then
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency -H "${HEADER[$n]}" -H "X-CSRF: 1" "$url" > "$f" 2>&1
  elif [ -n "${HEADER[$n]}" ]; then
    # a script: its bearer token, and no CSRF header (no ambient credential to guard)
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency -H "${HEADER[$n]}" "$url" > "$f" 2>&1
  else
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --latency "$url" > "$f" 2>&1
  fi
}

# ---------- warm-up ----------
if [ "$WARMUP" != 0 ]; then
  for i in "${SEL[@]}"; do n="${T_NAME[$i]}"; [ "${OKT[$n]}" = 1 ] || continue
    run_wrk "$n" "${T_URL[$i]}" "$WARMUP" "$OUT/warmup-$n.txt"; sleep 1
  done
fi

# ---------- measured rounds, interleaved ----------
for r in $(seq "$ROUNDS"); do
  for i in "${SEL[@]}"; do n="${T_NAME[$i]}"; [ "${OKT[$n]}" = 1 ] || continue
    f="$n-r$r.txt"; b="$(stats)"
    run_wrk "$n" "${T_URL[$i]}" "$DURATION" "$OUT/$f"
    a="$(stats)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$f" "${AUTH[$n]}" "$b" "$a" >> "$OUT/runs.tsv"
    printf '   round %s %-10s %10s req/s\n' "$r" "$n" "$(awk '/Requests\/sec/{print $2}' "$OUT/$f")"
    sleep 1
  done
done

echo
echo "== throughput: GET $REQ_PATH, wrk -t$THREADS -c$CONNS -d$DURATION, median of $ROUNDS interleaved runs"
node "$PERF_DIR/scripts/summarize.mjs" "$OUT" bare | tee "$OUT/summary.txt"
for i in "${SEL[@]}"; do n="${T_NAME[$i]}"; [ "${OKT[$n]}" = 1 ] || echo "   $n: NOT MEASURED (login failed; see $OUT/$n-login.err)"; done
echo "   upstream-ok = requests the upstream saw (with a Bearer token for authenticated targets) / requests wrk counted"

# ---------- login throughput ----------
if [ "$LOGIN_BENCH" != 0 ]; then
  echo
  echo "== login throughput: sequential full auth-code logins (fresh cookie jar each) for ${LOGIN_BENCH}s"
  for i in "${SEL[@]}"; do n="${T_NAME[$i]}"
    [ "${AUTH[$n]}" = 1 ] && [ "${OKT[$n]}" = 1 ] && [ -n "${COOKIE[$n]}" ] || continue
    cmd="${T_LOGIN[$i]}"
    if [ "$LOGIN_PROC" = 0 ] && [[ "$cmd" == *login.mjs* || "$cmd" == *PERF_LOGIN* ]]; then
      # in-process loop: no node start-up per login
      res="$(cd "$PERF_DIR" && timeout $((LOGIN_BENCH + 60)) bash -c "$cmd --repeat-for $LOGIN_BENCH" 2>>"$OUT/$n-loginbench.err" | tail -n1)"
    else
      # generic command: one process per login (includes its start-up cost)
      res="$(cd "$PERF_DIR" && cnt=0 err=0; s=$(date +%s%N); e=$(( s + LOGIN_BENCH * 1000000000 ))
        while [ "$(date +%s%N)" -lt "$e" ]; do if timeout 30 bash -c "$cmd" >/dev/null 2>>"$OUT/$n-loginbench.err"; then cnt=$((cnt+1)); else err=$((err+1)); fi; done
        t=$(date +%s%N); awk -v n="$cnt" -v x="$err" -v ns="$(( t - s ))" 'BEGIN{printf "{\"logins\":%d,\"errors\":%d,\"seconds\":%.2f,\"loginsPerSec\":%.1f,\"note\":\"one process per login\"}\n", n, x, ns/1e9, n/(ns/1e9)}')"
    fi
    printf '   %-10s %s\n' "$n" "$res" | tee -a "$OUT/login-bench.txt"
  done
fi

echo
echo "== stopping"
stop_all
echo "   done; raw wrk output and logs in $OUT"
