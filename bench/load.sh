#!/usr/bin/env bash
# Load benchmark of the scenario store, on loopback only, bounded in time.
#
#   bench/load.sh            # build the release server, run everything (~70 s of load)
#   DURATION=5 bench/load.sh # shorter runs
#
# 1. GET /api/scenarios/{id} of the release `mmrace` binary (SQLite store, scenario in the
#    in-memory cache) with wrk at 64 connections;
# 2. the yardstick: nginx serving the very same bytes as a static file (bench/nginx.conf),
#    same wrk settings;
# 3. upload throughput on SQLite: POST of distinct scenarios (bench/upload.lua), each one
#    validated, explored, fsynced (synchronous=FULL) and answered 201.
# Prints req/s and p99 latency of each, and the mmrace/nginx ratio. Targets: mmrace GET
# >= 0.5x nginx's req/s, p99 <= 5 ms; exit status 0 when met, 2 when not (numbers from a
# machine busy with other work are not comparable: run it on a quiet one).
#
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx; installed here if missing and
# running as root) and curl. Everything it starts listens on 127.0.0.1, lives in a temporary
# directory and is stopped on exit (also on Ctrl-C or error).
#
# Environment: DURATION (seconds per run, default 10), ROUNDS (GET runs per server, alternating;
# the median is reported; default 3), CONNECTIONS (default 64), THREADS (wrk
# threads, default 2), UPLOAD_CONNECTIONS (default 16), MMRACE_BIN (skip the build and use
# this binary).

set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
UPLOAD_CONNECTIONS=${UPLOAD_CONNECTIONS:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

need() {
    local missing=()
    for tool in wrk nginx curl; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bench: missing ${missing[*]}; install them (apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
}
need
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

TMP=$(mktemp -d /tmp/mmrace-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [ -n "${MMRACE_BIN:-}" ]; then
    BIN=$MMRACE_BIN
else
    # The same build as `cargo xtask` (frontend embedded) when dist/ is there, so that the
    # two do not keep relinking target/release/mmrace with different features.
    FEATURES=()
    [ -f "$ROOT/dist/index.html" ] && FEATURES=(--features embed)
    echo "bench: building the release server (cargo build --release -p server ${FEATURES[*]})" >&2
    (cd "$ROOT" && cargo build --release -q -p server --bin mmrace "${FEATURES[@]}")
    BIN="$ROOT/target/release/mmrace"
fi

wait_http() {
    local url=$1
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "$url" && return 0
        sleep 0.05
    done
    echo "bench: $url did not come up; logs:" >&2
    tail -5 "$TMP"/*.err "$TMP"/error.log >&2 2>/dev/null || true
    exit 1
}

# ---- mmrace
MPORT=$(free_port)
"$BIN" serve --addr "127.0.0.1:$MPORT" --db "$TMP/bench.sqlite3" \
    --uploads-per-minute 0 --log warn >"$TMP/mmrace.out" 2>"$TMP/mmrace.err" &
PIDS+=($!)
wait_http "http://127.0.0.1:$MPORT/healthz"

SCENARIO="$ROOT/assets/scenarios/seed-mprotect-vs-migration-v6.4.json"
ID=$(curl -fs -H 'content-type: application/json' --data-binary @"$SCENARIO" \
    "http://127.0.0.1:$MPORT/api/scenarios" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
mkdir -p "$TMP/www"
curl -fs -o "$TMP/www/scenario.json" "http://127.0.0.1:$MPORT/api/scenarios/$ID"
BYTES=$(wc -c <"$TMP/www/scenario.json")
# nginx's workers drop root privileges (to www-data): let them read the file.
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/scenario.json"

# ---- nginx with the same bytes
NPORT=$(free_port)
sed -e "s|__PREFIX__|$TMP|g" -e "s|__PORT__|$NPORT|g" -e "s|__ROOT__|$TMP/www|g" \
    "$BENCH/nginx.conf" >"$TMP/nginx.conf"
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/error.log" 2>"$TMP/nginx.err" &
PIDS+=($!)
wait_http "http://127.0.0.1:$NPORT/scenario.json"
cmp -s "$TMP/www/scenario.json" <(curl -fs "http://127.0.0.1:$NPORT/scenario.json") || {
    echo "bench: nginx does not serve the same bytes" >&2
    exit 1
}

# wrk output -> "req/s p99_ms non2xx"
summarise() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = re.search(r"Socket errors:.*", text)
print(f"{rps:.0f} {float(m.group(1)) * scale:.3f} {bad.group(1) if bad else 0}"
      + (f" ({errors.group(0)})" if errors else ""))
PY
}

run_wrk() { # name conns url [script]
    local name=$1 conns=$2 url=$3 script=${4:-}
    local args=(-t"$THREADS" -c"$conns" -d"${DURATION}s" --latency --timeout 10s)
    [ -n "$script" ] && args+=(-s "$script")
    echo "bench: $name: wrk ${args[*]} $url" >&2
    wrk "${args[@]}" "$url" >"$TMP/$name.txt"
    summarise "$TMP/$name.txt"
}

# Warm both up briefly (connections, caches), then measure.
wrk -t1 -c8 -d1s "http://127.0.0.1:$MPORT/api/scenarios/$ID" >/dev/null
wrk -t1 -c8 -d1s "http://127.0.0.1:$NPORT/scenario.json" >/dev/null

# Alternate the two servers ROUNDS times and keep each one's median round: the machine may be
# busy with other work, and alternating exposes both to the same background.
M_RUNS=()
N_RUNS=()
for round in $(seq 1 "$ROUNDS"); do
    M_RUNS+=("$(run_wrk "mmrace-get-$round" "$CONNECTIONS" "http://127.0.0.1:$MPORT/api/scenarios/$ID")")
    N_RUNS+=("$(run_wrk "nginx-get-$round" "$CONNECTIONS" "http://127.0.0.1:$NPORT/scenario.json")")
done
median() { # lines "rps p99 bad ..." -> the line with the median rps
    printf '%s\n' "$@" | sort -n -k1,1 | sed -n "$(( ($# + 1) / 2 ))p"
}
read -r M_RPS M_P99 M_BAD M_REST <<<"$(median "${M_RUNS[@]}")"
read -r N_RPS N_P99 N_BAD N_REST <<<"$(median "${N_RUNS[@]}")"
read -r U_RPS U_P99 U_BAD U_REST <<<"$(run_wrk mmrace-upload "$UPLOAD_CONNECTIONS" "http://127.0.0.1:$MPORT" "$BENCH/upload.lua")"
STORED=$(curl -fs "http://127.0.0.1:$MPORT/metrics" | awk '/^mmrace_scenarios_stored /{print $2}')

RATIO=$(python3 -c "print(f'{$M_RPS / $N_RPS:.2f}')")
cat <<EOF

mmrace load benchmark — $(nproc) cores, loopback, wrk -t$THREADS, ${DURATION} s per run;
GET rows: the median of $ROUNDS alternating rounds per server
scenario: $(basename "$SCENARIO") ($BYTES bytes, id $ID)

                                   conns     req/s    p99 (ms)   non-2xx
GET  mmrace /api/scenarios/{id}    $(printf '%5d %9d %11.3f %9d' "$CONNECTIONS" "$M_RPS" "$M_P99" "$M_BAD")
GET  nginx static file             $(printf '%5d %9d %11.3f %9d' "$CONNECTIONS" "$N_RPS" "$N_P99" "$N_BAD")
POST mmrace /api/scenarios         $(printf '%5d %9d %11.3f %9d' "$UPLOAD_CONNECTIONS" "$U_RPS" "$U_P99" "$U_BAD")
     (distinct scenarios, SQLite WAL + synchronous=FULL; rows stored at the end: $STORED)

mmrace/nginx GET req/s ratio: $RATIO   (target >= 0.5; p99 target <= 5 ms)
EOF
echo
echo "GET rounds (req/s, p99 ms):"
for i in $(seq 0 $((ROUNDS - 1))); do
    read -r a b _ <<<"${M_RUNS[$i]}"
    read -r c d _ <<<"${N_RUNS[$i]}"
    printf '  round %d: mmrace %7d %8.3f   nginx %7d %8.3f\n' $((i + 1)) "$a" "$b" "$c" "$d"
done
for r in "$M_REST" "$N_REST" "$U_REST"; do
    [ -n "$r" ] && echo "note: $r"
done
python3 -c "import sys; sys.exit(0 if $M_RPS >= 0.5 * $N_RPS and $M_P99 <= 5 else 1)" \
    && echo "targets met" || { echo "targets NOT met"; exit 2; }
