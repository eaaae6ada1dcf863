#!/bin/sh
# Regenerates acd's built-in speech prompts (8 kHz mono G.711 µ-law WAV) from text with
# espeak-ng and sox (Debian: apt-get install espeak-ng sox). The output is committed so a
# build needs neither tool; run this again only to change a phrase or the voice.
#
# Every file is speech synthesised by espeak-ng from the texts below: no third-party
# recordings (see README.md for the licence note). Music on hold and ringback are not here:
# acd generates them in code at start (engine/src/media/prompts.rs).
set -eu
cd "$(dirname "$0")"
VOICE=${VOICE:-en-us}
SPEED=${SPEED:-150}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() {
    name=$1
    text=$2
    espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/$name.wav" "$text"
    # To 8 kHz mono µ-law; -D: no dither, so the output is the same on every run. Leading and
    # trailing silence is trimmed so joined phrases (position announcements) do not drag, then
    # a short pause is put back at the end.
    sox -D "$tmp/$name.wav" -r 8000 -c 1 -e u-law -b 8 "$name.wav" \
        silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse pad 0 0.12
}

say welcome "Thank you for calling. Please hold, the next available agent will take your call."
say position_intro "You are number"
say position_outro "in the queue."
say wait_intro "Your expected wait is about"
say minutes "minutes"
say minute "minute"
say less_than_a_minute "less than a minute"

set -- zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen \
    fifteen sixteen seventeen eighteen nineteen twenty
n=0
for word in "$@"; do
    say "n$n" "$word"
    n=$((n + 1))
done
for pair in 30:thirty 40:forty 50:fifty 60:sixty 70:seventy 80:eighty 90:ninety; do
    say "n${pair%%:*}" "${pair#*:}"
done
