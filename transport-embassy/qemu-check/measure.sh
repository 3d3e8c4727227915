#!/usr/bin/env bash
# Builds the Cortex-M4 firmware, runs it in QEMU (mps2-an386), prints flash size and peak
# stack; with --count also the instructions of one RFC 9421 B.2.6 verification (two builds,
# 1 and 2 verifications, executed instructions counted with -singlestep -d exec,nochain; the
# difference is one verification). Extra arguments go to cargo (e.g. --features opt_size).
# Exit 0 only if the firmware exits 0 (signature verified) in every run.
set -euo pipefail
cd "$(dirname "$0")"
count=0
if [ "${1:-}" = "--count" ]; then count=1; shift; fi
bin=target/thumbv7em-none-eabihf/release/shardpeer-qemu-check
qemu=(qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -semihosting-config enable=on,target=native)

build() { SHARDPEER_QEMU_VERIFIES="$1" cargo build --release --quiet "${@:2}"; }
run() { timeout 300 "${qemu[@]}" -kernel "$bin"; }
instructions() {
  # Every executed instruction is one "Trace" line with one instruction per block.
  timeout 1200 "${qemu[@]}" -singlestep -d exec,nochain -D /dev/fd/3 -kernel "$bin" 3>&1 1>/dev/null | grep -c "Trace" || true
}

build 1 "$@"
run
size -A "$bin" | awk '$1==".vector_table"||$1==".text"||$1==".rodata"||$1==".data"{f+=$2} $1==".data"||$1==".bss"||$1==".uninit"{r+=$2} END{printf "flash (vector table + .text + .rodata + .data): %d bytes\nstatic RAM (.data + .bss): %d bytes\n", f, r}'
if [ "$count" = 1 ]; then
  one=$(instructions)
  build 2 "$@"
  run >/dev/null
  two=$(instructions)
  echo "instructions executed: $one with 1 verification, $two with 2"
  echo "instructions per verification: $((two - one))"
  build 1 "$@"
fi
