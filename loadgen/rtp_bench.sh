#!/bin/bash
# Relayed RTP calls through acd's media plane and through Debian's rtpengine (userspace
# forwarding, --table=-1) in ONE run on 127.0.0.1 (issue 11 point 7).
#
#   loadgen/rtp_bench.sh [both|acd|rtpengine]          (default: both)
#
# Each relay is started here, then `acd-loadgen rtp-bench` sets up calls and steps the number
# of concurrent calls (STEPS); at each step every call streams G.711 (PCMU, 20 ms, 172-byte
# packets) in both directions, 50 packets/s per leg and direction, i.e. 100 relayed packets/s
# per call, for WARMUP_S (not counted) + STEP_S seconds (measured). Calls accumulate from step
# to step (the 500 step adds 250 calls to the 250 already up).
#   acd      : `acd serve` (release build) with media.ports=$MEDIA_PORTS; a queue on a DID and
#              as many agents as the largest step (voice capacity is 1 per agent), all
#              registered (MD5 digest) with one loadgen SIP socket as Contact; each call is an
#              INVITE to the DID (200, ACK) and acd's INVITE to an agent answered by loadgen
#              (180, 200, ACK); BYE from the callers at the end.
#   rtpengine: `rtpengine --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG_PORT
#              --foreground --log-stderr` with the same port range; each call is an ng offer
#              (caller SDP) and answer (callee SDP) over UDP (bencode); delete at the end.
#
# Columns (TSV on stdout and in $OUT/results.tsv):
#   sent_pps      packets loadgen sent in the window / s (below 100 x calls: loadgen starved)
#   relayed_pps   stamped packets received back by loadgen that were sent in the window / s
#   loss_pct      1 - received/sent for packets sent in the window (2 s drain after it)
#   delay_*_us    one-way delay loadgen -> relay -> loadgen, from the send time carried in
#                 each payload (same clock), hdrhistogram; includes loopback twice
#   relay_cpu_pct relay process CPU (utime+stime, all threads, /proc/PID/stat) over the
#                 window, % of one core
#   cpu_us_per_pkt that CPU divided by the relayed packets
#   loadgen_cpu_pct the load generator's own CPU (the box has 2 cores: when relay + loadgen
#                 approach 200%, the numbers say more about the box than the relay)
#   relay_rss_kib the relay's resident memory at the end of the step (memory per call: the
#                 difference between steps over the difference in calls)
#   foreign_pkts  datagrams without a loadgen stamp during the window (the relay's own audio,
#                 e.g. queue audio from acd, or RTCP sent to an RTP port)
#
# Knobs (environment):
#   STEPS        concurrent calls per step              ["250,500,1000,1500,2000,3000"]
#   STEP_S       measured seconds per step              [10]
#   WARMUP_S     unmeasured seconds before each step    [2]
#   SENDERS      loadgen sender threads                 [1]
#   MEDIA_PORTS  relay RTP port range (both relays; kept below the ephemeral range 32768+
#                that loadgen's own sockets use)        [16000-31999]
#   SIP_PORT ADMIN_PORT TOOLBAR_PORT NG_PORT            [15160 15180 15181 2223]
#   OUT          logs and results.tsv                   [/tmp/acd-rtpbench/<timestamp>]
#   NICE         nice level for the relay and loadgen (e.g. -10 as root on a busy box) [0]
#   IDLE=1       set the calls up and stream nothing: each relay's CPU and memory for idle
#                allocated legs (2 legs per call; e.g. STEPS=5000 for 10,000 legs)
#   NO_BUILD=1   skip `cargo build --release -p acd-sidecar -p acd-loadgen`
#   ACD_BIN      the acd binary                         [target/release/acd]
#
# Only 127.0.0.1 is used. Every step is bounded (at most 5,000 calls, 120 s); the relays are
# stopped by PID (trap), nothing by name. Needs `ulimit -n` of about 4 x calls for each relay
# (raised here to 65536 when allowed).
set -u
MODE=${1:-both}
DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$DIR/.." && pwd)
STEPS=${STEPS:-"250,500,1000,1500,2000,3000"}
STEP_S=${STEP_S:-10}
WARMUP_S=${WARMUP_S:-2}
SENDERS=${SENDERS:-1}
MEDIA_PORTS=${MEDIA_PORTS:-16000-31999}
SIP_PORT=${SIP_PORT:-15160}
ADMIN_PORT=${ADMIN_PORT:-15180}
TOOLBAR_PORT=${TOOLBAR_PORT:-15181}
NG_PORT=${NG_PORT:-2223}
NICE=${NICE:-0}
OUT=${OUT:-/tmp/acd-rtpbench/$(date -u +%Y%m%dT%H%M%SZ)}
ACD_BIN=${ACD_BIN:-$ROOT/target/release/acd}
LOADGEN=$ROOT/target/release/acd-loadgen
TOKEN=rtp-bench-token
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || echo "note: ulimit -n stays $(ulimit -n)" >&2

if [ -z "${NO_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build --release -p acd-sidecar --bin acd -p acd-loadgen) || exit 1
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

HEADER=--header
bench() { # relay pid [extra args]
  local relay=$1 pid=$2; shift 2
  timeout 1800 nice -n "$NICE" "$LOADGEN" rtp-bench --relay "$relay" --pid "$pid" --steps "$STEPS" \
    --seconds "$STEP_S" --warmup "$WARMUP_S" --senders "$SENDERS" $HEADER ${IDLE:+--idle} "$@" \
    2> >(tee "$OUT/loadgen-$relay.log" >&2) | tee -a "$OUT/results.tsv"
  HEADER=
}

run_acd() {
  local lo=${MEDIA_PORTS%-*} hi=${MEDIA_PORTS#*-}
  ACD_ADMIN_TOKEN=$TOKEN ACD_LOG=warn ACD_MEDIA_PORTS="$lo-$hi" \
    nice -n "$NICE" "$ACD_BIN" serve --data-dir "$OUT/acd-data" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --sip-listen "127.0.0.1:$SIP_PORT" --toolbar-listen "127.0.0.1:$TOOLBAR_PORT" \
    > "$OUT/acd.out" 2> "$OUT/acd.err" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do grep -q "admin listening" "$OUT/acd.out" && break; sleep 0.1; done
  grep -q "admin listening" "$OUT/acd.out" || { echo "acd did not start" >&2; cat "$OUT/acd.err" >&2; return 1; }
  bench acd "$pid" --sip "127.0.0.1:$SIP_PORT" --admin-url "http://127.0.0.1:$ADMIN_PORT" --token "$TOKEN"
  kill "$pid"; wait "$pid" 2>/dev/null
}

run_rtpengine() {
  local lo=${MEDIA_PORTS%-*} hi=${MEDIA_PORTS#*-}
  nice -n "$NICE" rtpengine --table=-1 --interface=127.0.0.1 --listen-ng="127.0.0.1:$NG_PORT" --foreground \
    --log-stderr --log-level=4 --port-min="$lo" --port-max="$hi" \
    > "$OUT/rtpengine.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  sleep 1
  kill -0 "$pid" 2>/dev/null || { echo "rtpengine did not start" >&2; cat "$OUT/rtpengine.log" >&2; return 1; }
  bench rtpengine "$pid" --ng "127.0.0.1:$NG_PORT"
  kill "$pid"; wait "$pid" 2>/dev/null
}

case "$MODE" in
  acd) run_acd ;;
  rtpengine) run_rtpengine ;;
  both) run_acd; run_rtpengine ;;
  *) echo "usage: $0 [both|acd|rtpengine]" >&2; exit 2 ;;
esac
echo "results: $OUT/results.tsv" >&2
