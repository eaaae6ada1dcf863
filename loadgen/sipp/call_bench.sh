#!/bin/bash
# Calls per second through acd's B2BUA, and the same SIPp load through Kamailio as a stateful
# proxy, in one run on 127.0.0.1 (issue 4 point 11).
#
#   loadgen/sipp/call_bench.sh [acd|kamailio|both]          (default: both)
#
# acd     : SIPp callers (caller_wait_bye.xml) -> acd serve (early-media queue, AGENTS agents
#           registered with one SIPp UAS port as Contact) -> ONE SIPp UAS (agent_answer_hangup.xml)
#           answering for all of them; the agent hangs up after HOLD_MS, acd BYEs the caller.
#           The caller's INVITE -> 200 time is the whole setup through acd: SIP, routing core
#           and the agent leg (100, 180, 183 to the caller; INVITE, 180, 200, ACK to the agent).
# kamailio: SIPp uac_txn.xml -> Kamailio 5.6 tm proxy (shared/bench/kamailio/kamailio-proxy.cfg,
#           children=2, -m 2048 -x tlsf -X tlsf = that directory's anchor A) -> SIPp -sn uas.
#           Same rates, same step length, same measurement (it is what run.sh proxy does, plus
#           per-call setup-time percentiles).
#
# Knobs (environment):
#   RATES     caller rates, calls/s, one step each      ["500 1000 2000 3000 4000 5000 6000 7000"]
#   STEP_S    seconds per step (-m = rate * STEP_S)     [10]
#   AGENTS    agents created and registered             [500]
#   HOLD_MS   agent talk time before its BYE (-d)       [0]
#   STOP_AFTER_FAILED_STEPS  stop a system's stepping after this many consecutive steps with
#             failed calls (the rest would only be deeper overload)               [2]
#   SIP_PORT ADMIN_PORT TOOLBAR_PORT UAS_PORT CALLER_PORT REG_PORT (acd side)
#             [15060 15080 15081 15070 15090 15091]; Kamailio uses its cfg's 5060 -> 5070, UAC 5080
#   KAM_DIR   the Kamailio reference directory          [/work/shared/bench/kamailio]
#   OUT       logs, SIPp CSVs, results.tsv              [/tmp/acd-callbench/<timestamp>]
#   NO_BUILD=1  skip `cargo build --release -p acd-sidecar --bin acd`
#   ACD_BIN   the acd binary to measure (e.g. an older build for an A/B)  [target/release/acd]
#
# Columns: total/success/failed/retrans/dead from SIPp's final -trace_stat row of the caller;
# ach = calls created / step wall time; setup p50/p90/p99/max = INVITE -> 200 of each successful
# call (SIPp -trace_rtt). SIPp 3.6.1's clock is coarse: every value it reports here is a multiple
# of 4 ms (CLOCK_MONOTONIC_COARSE, clock_getres = 4 ms on this kernel), so 0 = within one tick;
# the mean of such readings is still an unbiased estimate of the mean setup time (a call starts
# at a random phase of the tick), and lt4ms% = share of calls read as 0. The rtt file is written
# every 100 calls, so up to 99 final calls of a step are not in it; srv_cpu = acd (all threads) or Kamailio (main and
# every child) CPU over the step wall time, % of one core, from /proc/PID/stat; uac/uas CPU
# likewise for the two SIPp; rcvbuf = delta of Udp RcvbufErrors in /proc/net/snmp (any socket
# of the box), srv_drops/uas_drops = the part of it on the server's SIP socket / the UAS's socket
# (/proc/net/udp; the rest is mostly the caller SIPp, whose socket is gone when it is read);
# q_answered/q_abandoned = delta of the acd queue's live statistics.
#
# Only 127.0.0.1 is used. Every SIPp run is bounded by -m, -timeout and coreutils timeout; everything started here
# is stopped by PID (trap), nothing by name.
set -u
MODE=${1:-both}
DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$DIR/../.." && pwd)
RATES=${RATES:-"500 1000 2000 3000 4000 5000 6000 7000"}
STEP_S=${STEP_S:-10}
AGENTS=${AGENTS:-500}
HOLD_MS=${HOLD_MS:-0}
STOP_AFTER_FAILED_STEPS=${STOP_AFTER_FAILED_STEPS:-2}
SIP_PORT=${SIP_PORT:-15060}
ADMIN_PORT=${ADMIN_PORT:-15080}
TOOLBAR_PORT=${TOOLBAR_PORT:-15081}
UAS_PORT=${UAS_PORT:-15070}
CALLER_PORT=${CALLER_PORT:-15090}
REG_PORT=${REG_PORT:-15091}
KAM_DIR=${KAM_DIR:-/work/shared/bench/kamailio}
OUT=${OUT:-/tmp/acd-callbench/$(date +%Y%m%d-%H%M%S)}
ACD_BIN=${ACD_BIN:-$ROOT/target/release/acd}
DID=4620000
BUF=1048576
HZ=$(getconf CLK_TCK)
RESULTS=$OUT/results.tsv
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true
export ACD_ADMIN_TOKEN=${ACD_ADMIN_TOKEN:-callbench-token-$RANDOM$RANDOM$RANDOM}

SRV_PORT=""; UAS_SIP_PORT=""
ACD_PID=""; UAS_PID=""; KAM_PID=""; DATA=""
cleanup() {
    [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null && wait "$UAS_PID" 2>/dev/null
    [ -n "$ACD_PID" ] && kill "$ACD_PID" 2>/dev/null && wait "$ACD_PID" 2>/dev/null
    if [ -n "$KAM_PID" ]; then
        kill "$KAM_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$KAM_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    [ -n "$DATA" ] && rm -rf "$DATA"
    UAS_PID=""; ACD_PID=""; KAM_PID=""; DATA=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ helpers
ticks() { local t=0 p f; for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    f=$(sed 's/.*) //' "/proc/$p/stat")
    set -- $f; t=$((t + ${12} + ${13}))
  done; echo $t; }
udp_rcvbuf_err() { awk '/^Udp:/{n++; if(n==1){for(i=1;i<=NF;i++) h[i]=$i} else {for(i=1;i<=NF;i++) if(h[i]=="RcvbufErrors") print $i}}' /proc/net/snmp; }
now() { date +%s.%N; }
# receive-buffer drops of the UDP sockets bound to a local port (last column of /proc/net/udp)
sock_drops() { awk -v p="$(printf ':%04X' "$1")" 'NR > 1 && substr($2, length($2) - 4) == p { d += $NF } END { print d + 0 }' /proc/net/udp; }
# "tid comm ticks" for every thread of a process
thread_ticks() { local t f; for t in /proc/$1/task/*; do
    f=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    set -- $f; echo "${t##*/} $(tr ' ' _ < "$t/comm") $((${12} + ${13}))"
  done; }
port_free() { ! ss -Hlnut | awk '{print $5}' | grep -q ":$1\$"; }
need_ports() { local p; for p in "$@"; do port_free "$p" || { echo "127.0.0.1:$p is in use; pick other ports (see the knobs)"; exit 1; }; done; }
# last row value of a SIPp -trace_stat CSV: stat FILE COLUMN
stat_col() { python3 - "$1" "$2" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
except OSError:
    rows = []
print(rows[-1][rows[0].index(sys.argv[2])] if len(rows) > 1 else 0)
PY
}

header() {
    printf 'system\trate\tm\ttotal\tsuccess\tfailed\tretrans\tdead\tach_cps\tsetup_mean_ms\tsetup_lt4ms%%\tsetup_p50_ms\tsetup_p90_ms\tsetup_p99_ms\tsetup_max_ms\twall_s\tsrv_cpu%%\tuac_cpu%%\tuas_cpu%%\trcvbuf\tsrv_drops\tuas_drops\tuas_ok\tuas_failed\tq_answered\tq_abandoned\n' | tee "$RESULTS"
}

# One bounded caller step. $1 system, $2 rate, $3 caller scenario, $4 target, $5.. server pids.
# Prints one results row; returns 1 if the step had failed calls.
step() {
    local sys=$1 rate=$2 sf=$3 target=$4; shift 4
    local srv_pids="$*" m=$((rate * STEP_S)) tmo=$((STEP_S * 3 + 30)) dir
    local tag=${sys}_r${rate} s0 s1 u0 u1 r0 r1 t0 t1 uac_t q0="- - - -" q1="- - - -" ok0 ok1 fl0 fl1
    dir=$OUT/$tag; mkdir -p "$dir"
    [ "$sys" = acd ] && q0=$(python3 "$DIR/call_bench_admin.py" stats 127.0.0.1:$ADMIN_PORT "$QUEUE")
    ok0=$(stat_col "$UAS_STAT" 'SuccessfulCall(C)'); fl0=$(stat_col "$UAS_STAT" 'FailedCall(C)')
    [ "$sys" = acd ] && thread_ticks "$ACD_PID" > "$dir/threads0"
    local d0 d1 e0 e1
    d0=$(sock_drops "$SRV_PORT"); e0=$(sock_drops "$UAS_SIP_PORT")
    s0=$(ticks $srv_pids); u0=$(ticks "$UAS_PID"); r0=$(udp_rcvbuf_err); t0=$(now)
    # The wrapper's cutime+cstime after SIPp exits is SIPp's CPU. Run in the step directory:
    # SIPp writes its -trace_rtt file into the current directory.
    # SIPp's -timeout did not stop a caller whose calls waited for a message that never came
    # (seen once at 10,000 CPS): `timeout` bounds the step for sure (INT, then KILL).
    uac_t=$(cd "$dir" && bash -c 'timeout -s INT -k 10 "$0" sipp "$@" >/dev/null 2>sipp.err; read -r l < /proc/$$/stat; l=${l##*) }; set -- $l; echo $((${14}+${15}))' $((tmo + 10)) \
        "$target" -sf "$sf" -s "$DID" -i 127.0.0.1 -p "$CALLER_PORT" -r "$rate" -m "$m" -d 0 \
        -nostdin -buff_size "$BUF" -timeout "$tmo" \
        -trace_stat -stf "$dir/uac.csv" -fd 1 -trace_rtt -rtt_freq 100 \
        -trace_err -error_file "$dir/uac.errors")
    t1=$(now); s1=$(ticks $srv_pids); u1=$(ticks "$UAS_PID"); r1=$(udp_rcvbuf_err)
    d1=$(sock_drops "$SRV_PORT"); e1=$(sock_drops "$UAS_SIP_PORT")
    [ "$sys" = acd ] && thread_ticks "$ACD_PID" > "$dir/threads1"
    # Let the UAS write its next periodic stat row and the router count the last completions;
    # SIPp's built-in uas (Kamailio side) ends each call 4 s after the BYE's 200.
    sleep 1.5
    [ "$sys" = kamailio ] && sleep 4
    ok1=$(stat_col "$UAS_STAT" 'SuccessfulCall(C)'); fl1=$(stat_col "$UAS_STAT" 'FailedCall(C)')
    [ "$sys" = acd ] && q1=$(python3 "$DIR/call_bench_admin.py" stats 127.0.0.1:$ADMIN_PORT "$QUEUE")
    python3 - "$dir" "$sys" "$rate" "$m" "$t0" "$t1" "$s0" "$s1" "$u0" "$u1" "$uac_t" "$HZ" \
        "$r0" "$r1" "$((ok1 - ok0))" "$((fl1 - fl0))" "$q0" "$q1" "$((d1 - d0))" "$((e1 - e0))" <<'PY' | tee -a "$RESULTS"
import csv, glob, sys
(d, sysname, rate, m, t0, t1, s0, s1, u0, u1, uac_t, hz, r0, r1, uas_ok, uas_fl, q0, q1,
 srv_drops, uas_drops) = sys.argv[1:21]
rows = list(csv.reader(open(d + "/uac.csv"), delimiter=';'))
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
# -trace_rtt: "date_ms;response_time_ms;rtd_no" per call; SIPp's clock has 1 ms resolution
rt = []
for f in glob.glob(d + "/*_rtt.csv"):
    for line in open(f):
        p = line.strip().split(';')
        try:
            rt.append(float(p[1]))
        except (IndexError, ValueError):
            pass
rt.sort()
pct = lambda q: '%g' % rt[min(len(rt) - 1, int(q * len(rt)))] if rt else '-'
wall = float(t1) - float(t0)
cpu = lambda a, b: '%.0f' % ((int(b) - int(a)) / float(hz) / wall * 100)
qa = lambda i: str(int(q1.split()[i]) - int(q0.split()[i])) if q0.split()[0] != '-' else '-'
print('\t'.join([sysname, rate, m, g('TotalCallCreated'), g('SuccessfulCall(C)'), g('FailedCall(C)'),
    g('Retransmissions(C)'), g('DeadCallMsgs(C)'), '%.0f' % (int(g('TotalCallCreated')) / wall),
    '%.2f' % (sum(rt) / len(rt)) if rt else '-',
    '%.1f' % (100.0 * sum(1 for x in rt if x < 4) / len(rt)) if rt else '-',
    pct(0.50), pct(0.90), pct(0.99), '%g' % rt[-1] if rt else '-', '%.1f' % wall,
    cpu(s0, s1), '%.0f' % (int(uac_t) / float(hz) / wall * 100), cpu(u0, u1),
    str(int(r1) - int(r0)), srv_drops, uas_drops, uas_ok, uas_fl, qa(1), qa(2)]))
PY
    # acd per-thread CPU over the step (what `top -H -p PID` shows), busiest first
    [ "$sys" = acd ] && python3 - "$dir" "$t0" "$t1" "$HZ" "$rate" <<'PY' >&2
import collections, sys
d, t0, t1, hz, rate = sys.argv[1:6]
before = {l.split()[0]: int(l.split()[2]) for l in open(d + "/threads0")}
by = collections.defaultdict(list)
for l in open(d + "/threads1"):
    tid, comm, t = l.split()
    by[comm].append(int(t) - before.get(tid, 0))
wall = float(t1) - float(t0)
pc = lambda v: v / float(hz) / wall * 100
items = sorted(((sum(v), c, v) for c, v in by.items() if sum(v)), reverse=True)
print(f"# acd threads at {rate}/s, % of a core: " + " ".join(
    f"{c}={pc(t):.0f}" + (" (" + "+".join(f"{pc(x):.0f}" for x in sorted(v, reverse=True) if x) + ")"
                          if len([x for x in v if x]) > 1 else "") for t, c, v in items))
PY
    local failed; failed=$(stat_col "$dir/uac.csv" 'FailedCall(C)')
    sleep 1
    [ "$failed" = 0 ]
}

run_steps() {   # $1 system, $2 scenario, $3 target, $4.. server pids
    local sys=$1 sf=$2 target=$3 r bad=0; shift 3
    for r in $RATES; do
        if step "$sys" "$r" "$sf" "$target" "$@"; then bad=0; else bad=$((bad + 1)); fi
        if [ "$bad" -ge "$STOP_AFTER_FAILED_STEPS" ]; then
            echo "# $sys: $bad consecutive steps with failed calls, higher rates skipped"; break
        fi
    done
}

# ------------------------------------------------------------------ acd
run_acd() {
    need_ports "$SIP_PORT" "$ADMIN_PORT" "$TOOLBAR_PORT" "$UAS_PORT" "$CALLER_PORT" "$REG_PORT"
    if [ -z "${NO_BUILD:-}" ]; then
        (cd "$ROOT" && cargo build --release -q -p acd-sidecar --bin acd) || exit 1
    fi
    DATA=$(mktemp -d /tmp/acd-callbench-data.XXXXXX)
    SRV_PORT=$SIP_PORT; UAS_SIP_PORT=$UAS_PORT
    ACD_LOG=${ACD_LOG:-warn} "$ACD_BIN" serve --data-dir "$DATA" \
        --admin-listen 127.0.0.1:$ADMIN_PORT --sip-listen 127.0.0.1:$SIP_PORT \
        --toolbar-listen 127.0.0.1:$TOOLBAR_PORT >"$OUT/acd.out" 2>"$OUT/acd.log" &
    ACD_PID=$!
    for _ in $(seq 100); do grep -q '^admin listening' "$OUT/acd.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^admin listening' "$OUT/acd.out" || { echo "acd did not start:"; cat "$OUT/acd.log"; exit 1; }

    local t0 t1
    t0=$(now)
    QUEUE=$(python3 "$DIR/call_bench_admin.py" setup 127.0.0.1:$ADMIN_PORT "$AGENTS" "$DID" "$OUT/agents.csv") || exit 1
    t1=$(now)
    echo "# acd: queue $QUEUE, $AGENTS agents + members + DID $DID created in $(python3 -c "print('%.1f' % ($t1 - $t0))") s"

    # One UAS answers for every agent: all registrations name its port as Contact.
    UAS_STAT=$OUT/acd_uas.csv
    sipp -sf "$DIR/agent_answer_hangup.xml" -i 127.0.0.1 -p "$UAS_PORT" -d "$HOLD_MS" -nostdin \
        -buff_size "$BUF" -timeout 900 -trace_stat -stf "$UAS_STAT" -fd 1 \
        -trace_err -error_file "$OUT/acd_uas.errors" >/dev/null 2>"$OUT/acd_uas.err" &
    UAS_PID=$!
    sipp 127.0.0.1:$SIP_PORT -sf "$DIR/agent_register_bench.xml" -inf "$OUT/agents.csv" \
        -key contact_port "$UAS_PORT" -i 127.0.0.1 -p "$REG_PORT" -r 500 -m "$AGENTS" -nostdin \
        -timeout 60 -trace_stat -stf "$OUT/register.csv" -trace_err -error_file "$OUT/register.errors" \
        >/dev/null 2>"$OUT/register.err"
    echo "# acd: registrations ok=$(stat_col "$OUT/register.csv" 'SuccessfulCall(C)') failed=$(stat_col "$OUT/register.csv" 'FailedCall(C)')"
    local st; st=$(python3 "$DIR/call_bench_admin.py" stats 127.0.0.1:$ADMIN_PORT "$QUEUE")
    echo "# acd: queue figures (offered answered abandoned completed asa_ms logged_in ready): $st"
    set -- $st
    [ "$6" = "$AGENTS" ] || { echo "acd: only $6 of $AGENTS agents logged in; see $OUT/register.errors"; exit 1; }
    sleep 1.5   # first UAS stat row

    run_steps acd "$DIR/caller_wait_bye.xml" 127.0.0.1:$SIP_PORT "$ACD_PID"

    echo "# acd: final queue figures: $(python3 "$DIR/call_bench_admin.py" stats 127.0.0.1:$ADMIN_PORT "$QUEUE")"
    echo "# acd: threads, CPU ticks since start: $(for t in /proc/$ACD_PID/task/*; do
        f=$(sed 's/.*) //' $t/stat); set -- $f; printf '%s=%s ' "$(cat $t/comm | tr ' ' _)" $((${12} + ${13})); done)"
    grep -c . "$OUT/acd.log" | sed 's/^/# acd: log lines (warn and above): /'
    cleanup
}

# ------------------------------------------------------------------ kamailio
run_kamailio() {
    need_ports 5060 5070 5080
    SRV_PORT=5060; UAS_SIP_PORT=5070
    local cfg=$OUT/kamailio-proxy.cfg pidf=$OUT/kamailio.pid
    sed "s/^children=.*/children=2/" "$KAM_DIR/kamailio-proxy.cfg" > "$cfg"
    kamailio -c -f "$cfg" >/dev/null 2>&1 || { echo "kamailio cfg check failed: $cfg"; exit 1; }
    # Kamailio daemonizes; the pid file holds the main PID, every worker is its child.
    kamailio -f "$cfg" -m 2048 -M 16 -x tlsf -X tlsf -P "$pidf" -Y "$OUT" >"$OUT/kamailio.log" 2>&1
    for _ in $(seq 50); do [ -s "$pidf" ] && break; sleep 0.1; done
    KAM_PID=$(cat "$pidf" 2>/dev/null)
    sleep 2
    [ -n "$KAM_PID" ] && kill -0 "$KAM_PID" 2>/dev/null || { echo "kamailio failed to start"; cat "$OUT/kamailio.log"; exit 1; }
    local kp; kp="$KAM_PID $(ps -o pid= --ppid "$KAM_PID" | tr '\n' ' ')"

    UAS_STAT=$OUT/kam_uas.csv
    sipp -sn uas -i 127.0.0.1 -p 5070 -nostdin -buff_size "$BUF" -timeout 900 \
        -trace_stat -stf "$UAS_STAT" -fd 1 >/dev/null 2>"$OUT/kam_uas.err" &
    UAS_PID=$!
    sleep 1.5

    local save=$CALLER_PORT; CALLER_PORT=5080
    run_steps kamailio "$KAM_DIR/uac_txn.xml" 127.0.0.1:5060 $kp
    CALLER_PORT=$save
    cleanup
}

# ------------------------------------------------------------------ main
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC') nproc=$(nproc) cpu=$(lscpu | sed -n 's/^Model name: *//p') kernel=$(uname -r)"
echo "# sipp=$(sipp -v 2>&1 | grep -o 'v[0-9.]*' | head -1) $(kamailio -v 2>/dev/null | head -1) rmem_max=$(cat /proc/sys/net/core/rmem_max)"
echo "# rates=[$RATES] step=${STEP_S}s agents=$AGENTS hold=${HOLD_MS}ms out=$OUT"
header
case $MODE in
    acd) run_acd ;;
    kamailio) run_kamailio ;;
    both) run_acd; run_kamailio ;;
    *) echo "unknown mode $MODE (acd|kamailio|both)"; exit 2 ;;
esac

echo
column -t -s $'\t' "$RESULTS"
python3 - "$RESULTS" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
def best(pred):
    out = {}
    for r in rows:
        if r['failed'] == '0' and int(r['success']) == int(r['m']) and pred(r):
            if float(r['ach_cps']) > float(out.get(r['system'], {}).get('ach_cps', -1)):
                out[r['system']] = r
    return out
for label, b in (("0 failed calls", best(lambda r: True)),
                 ("0 failed calls and 0 retransmissions", best(lambda r: r['retrans'] == '0'))):
    for s, r in b.items():
        print(f"# {s}: highest rate with {label}: {r['rate']}/s (achieved {r['ach_cps']}/s), "
              f"setup mean {r['setup_mean_ms']} ms, p50 {r['setup_p50_ms']} ms, p90 {r['setup_p90_ms']} ms, "
              f"p99 {r['setup_p99_ms']} ms, max {r['setup_max_ms']} ms, retrans {r['retrans']}, "
              f"server CPU {r['srv_cpu%']} % of a core")
PY
