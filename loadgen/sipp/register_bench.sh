#!/bin/bash
# REGISTER-with-digest-auth load against acd's SIP stack (engine example sip_registrar) on
# 127.0.0.1, stepping the rate; compare with /work/shared/bench/kamailio anchor C (which has
# no auth: one transaction per registration instead of two).
#
#   loadgen/sipp/register_bench.sh            RATES="1000 2000 4000" STEP_S=10 PORT=5090
#
# Every SIPp run is bounded by -m and -timeout; only the server started here is stopped, by PID.
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$DIR/../.." && pwd)
RATES=${RATES:-"1000 2000 4000 6000 8000"}
STEP_S=${STEP_S:-10}
PORT=${PORT:-5090}
AGENTS=${AGENTS:-10000}
OUT=${OUT:-/tmp/acd-regbench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
HZ=$(getconf CLK_TCK)
(cd "$ROOT" && cargo build --release -q -p acd-engine --example sip_registrar) || exit 1
"$ROOT/target/release/examples/sip_registrar" --bind 127.0.0.1:$PORT --agents "$AGENTS" --password pw \
    --seconds 3600 2>"$OUT/acd.log" &
ACD=$!
trap 'kill $ACD 2>/dev/null; wait $ACD 2>/dev/null' EXIT
sleep 1
ticks() { local f; f=$(sed 's/.*) //' /proc/$1/stat); set -- $f; echo $((${12} + ${13})); }
printf 'rate\ttotal\tsuccess\tfailed\tretrans\tach_reg_s\trtd_avg_ms\tacd_cpu%%\n'
for r in $RATES; do
    m=$((r * STEP_S)); a0=$(ticks $ACD); t0=$(date +%s.%N)
    sipp 127.0.0.1:$PORT -sf "$DIR/register_bench.xml" -s 1000001 -au 1000001 -ap pw -i 127.0.0.1 -p $((PORT + 1)) \
        -r "$r" -m "$m" -nostdin -buff_size 1048576 -timeout $((STEP_S * 3 + 30)) \
        -trace_stat -stf "$OUT/r$r.csv" -fd 1 >/dev/null 2>"$OUT/r$r.err"
    t1=$(date +%s.%N); a1=$(ticks $ACD)
    python3 - "$OUT/r$r.csv" "$r" "$t0" "$t1" "$a0" "$a1" "$HZ" <<'PY'
import sys, csv
f, rate, t0, t1, a0, a1, hz = sys.argv[1:8]
rows = list(csv.reader(open(f), delimiter=';')); h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
def ms(v):
    a = v.split(':'); return (int(a[0])*3600 + int(a[1])*60 + int(a[2]))*1000 + int(a[3])/1000
wall = float(t1) - float(t0)
print('\t'.join([rate, g('TotalCallCreated'), g('SuccessfulCall(C)'), g('FailedCall(C)'),
    g('Retransmissions(C)'), '%.0f' % float(g('CallRate(C)')), '%.1f' % ms(g('ResponseTime1(C)')),
    '%.0f' % ((int(a1) - int(a0)) / float(hz) / wall * 100)]))
PY
    sleep 1
done
