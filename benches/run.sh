#!/usr/bin/env bash
# Benchmark: wsdiag analyze against the reading floor and tshark on generated hop captures.
#
#   benches/run.sh [SIZE] [DIR]      SIZE: per capture, default 1GiB; DIR: default target/bench
#   env: RUNS (default 3), TSHARK=0 to skip tshark, HANDSHAKE_SCALE (default 1), CPU (the core
#        every timed run is pinned to, default 0)
#
# Generates one capture of each kind (examples/gen_capture.rs: "small" = many small HTTP
# exchanges, "mss" = MSS-sized segments), checks that wsdiag's counts equal the generator's
# truth exactly (fails loudly otherwise), then times, each file in page cache and on one core:
#   - the reading floor (examples/read_floor.rs: wsdiag's reader, every packet decoded by
#     etherparse, no reassembly: "pcap-parser + etherparse", as issue 6 defines the floor)
#   - "reader": the same with wsdiag's own decoder (read_floor --wsdiag-decode), what reading
#     alone costs wsdiag analyze (its vs_floor is above 1)
#   - wsdiag analyze --format json --jobs 1
#   - tshark with desegmentation (when installed; skipped past 2 GiB, it takes minutes)
# (wall time: hyperfine's mean; needs hyperfine and GNU time: apt-get install hyperfine time)
# and prints MiB/s, packets/s, the ratio to the floor and peak RSS (/usr/bin/time -f %M).
set -euo pipefail
SIZE=${1:-1GiB}
DIR=${2:-target/bench}
RUNS=${RUNS:-3}
# Multiplies the generator's share of handshakes (the report lists each one, so it grows with
# them): HANDSHAKE_SCALE=0.1 for a 10 GiB run whose memory should stay flat.
SCALE=${HANDSHAKE_SCALE:-1}
CPU=${CPU:-0}
cd "$(dirname "$0")/.."
mkdir -p "$DIR"
cargo build --release --quiet --bin wsdiag --example gen_capture --example read_floor
BIN=target/release
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"

best() { # mean wall time in seconds (hyperfine, RUNS runs) and peak RSS in KiB of "$@"
  hyperfine -N -w 1 -r "$RUNS" -i --export-json "$DIR/h.json" "$*" >/dev/null 2>&1
  /usr/bin/time -f '%M' -o "$DIR/time.out" "$@" >/dev/null 2>&1 || true
  echo "$(python3 -c "import json;print(json.load(open('$DIR/h.json'))['results'][0]['mean'])") $(tail -1 "$DIR/time.out")"
}

printf '\n%-6s %-8s %10s %12s %12s %10s %8s\n' kind tool seconds MiB/s packets/s vs_floor RSS_MiB
for kind in small mss; do
  f="$DIR/$kind-$SIZE-x$SCALE.pcap"
  [ -s "$f" ] && [ -s "$f.truth.json" ] ||
    $BIN/examples/gen_capture --kind "$kind" --size "$SIZE" --handshake-scale "$SCALE" -o "$f"
  # Exact counts, or fail.
  taskset -c "$CPU" $BIN/wsdiag analyze --format json --jobs 1 "$f" > "$DIR/$kind.json" || [ $? -eq 1 ]
  python3 - "$f.truth.json" "$DIR/$kind.json" <<'PY'
import json, sys
truth = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))["summary"]
checks = {k: (truth[k], s[k]) for k in ["packets", "connections", "http_requests", "http_responses", "handshakes", "sessions"]}
checks["by_verdict"] = (truth["by_verdict"], s["by_verdict"])
bad = {k: v for k, v in checks.items() if v[0] != v[1]}
if bad:
    sys.exit("COUNTS DIFFER from the generator's truth (truth, wsdiag): %s" % bad)
print("counts match the truth: %s" % {k: v[0] for k, v in checks.items()})
PY
  bytes=$(stat -c %s "$f"); packets=$(python3 -c "import json;print(json.load(open('$f.truth.json'))['packets'])")
  cat "$f" > /dev/null # into page cache
  read -r ft frss < <(best taskset -c "$CPU" $BIN/examples/read_floor "$f")
  read -r rt rrss < <(best taskset -c "$CPU" $BIN/examples/read_floor --wsdiag-decode "$f")
  read -r wt wrss < <(best taskset -c "$CPU" $BIN/wsdiag analyze --format json --jobs 1 -o /dev/null "$f")
  row() { awk -v k="$kind" -v n="$1" -v t="$2" -v r="$3" -v b="$bytes" -v p="$packets" -v f="$ft" \
    'BEGIN{printf "%-6s %-8s %10.2f %12.0f %12.0f %10.2f %8.1f\n", k, n, t, b/1048576/t, p/t, f/t, r/1024}'; }
  row floor "$ft" "$frss"
  row reader "$rt" "$rrss"
  row wsdiag "$wt" "$wrss"
  if command -v tshark >/dev/null && [ "$bytes" -le $((2 << 30)) ] && [ "${TSHARK:-1}" = 1 ]; then
    /usr/bin/time -f '%e %M' -o "$DIR/time.out" taskset -c "$CPU" tshark -r "$f" -o tcp.desegment_tcp_streams:TRUE \
      -d tcp.port==8080,http -Y websocket -T fields -e frame.number >/dev/null 2>&1 || true
    out=$(tail -1 "$DIR/time.out")
    row tshark "${out% *}" "${out#* }"
  fi
done
