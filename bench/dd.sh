#!/bin/sh
# dd.sh VOLFILE [COUNT]: mount VOLFILE with a fresh data directory, drop
# caches, write COUNT 4 KiB blocks (default 262144: 1 GiB) with
# dd bs=4k, print dd's rate, unmount and remove the data. As root.
# XSTACK is the binary (default: built from this tree into BENCH_DIR);
# BENCH_DIR defaults to /tmp/xstack-dd; DUMP=1 prints the write-behind
# and bio counters of the statedump before unmounting.
set -e
V=$1
N=${2:-262144}
B=${BENCH_DIR:-/tmp/xstack-dd}
mkdir -p "$B"
if [ -z "$XSTACK" ]; then
	XSTACK=$B/xstack
	(cd "$(dirname "$0")/.." && go build -o "$XSTACK" ./cmd/xstack)
fi
rm -rf "$B/data" "$B/mnt"
mkdir -p "$B/mnt"
"$XSTACK" mount -var data="$B/data" "$V" "$B/mnt" >"$B/log" 2>&1 &
PID=$!
trap '"$XSTACK" umount "$B/mnt" 2>/dev/null || umount -l "$B/mnt" 2>/dev/null; wait $PID; rm -rf "$B/data"' EXIT
for i in $(seq 50); do mountpoint -q "$B/mnt" && break; sleep 0.1; done
mountpoint -q "$B/mnt" || { cat "$B/log"; exit 1; }
sync
echo 3 >/proc/sys/vm/drop_caches
R=$(dd if=/dev/zero of="$B/mnt/f" bs=4k count="$N" 2>&1 | tail -1)
echo "$(basename "$V"): $R"
if [ -n "$DUMP" ]; then
	"$XSTACK" dump "$B/mnt" 2>&1 | grep -E "^(writes|flushes|child-writes|aggregated|held|brick.merged|brick.requests|brick.submitted.write)="
fi
