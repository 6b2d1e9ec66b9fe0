#!/usr/bin/env bash
# bench/pools.sh: do the pools earn their place? The same FUSE workloads
# on xstack built normally and built with -tags nopools (every mem-pool,
# slab cache and iobuf arena replaced by plain Go allocation), builds
# alternating, ROUNDS rounds, medians. Root only (mount(2), drop_caches).
#
#   bench/pools.sh [VOLFILE]           # default: the embedded default volfile
#   ROUNDS=5 COUNT=32768 bench/pools.sh
#
#   ROUNDS   [3]      rounds; each runs both builds, in alternating order
#   COUNT    [16384]  4 KiB writes, then 4 KiB reads, of one file (64 MiB)
#   NFILES   [5000]   files for create, stat and unlink (bench/metabench)
#   BENCH_DIR [mktemp -d /tmp/xstack-pools.XXXXXX]
#
# Per round and build it reports, for each workload, the fops per second
# the graph's top translator counted (from `xstack dump --json`, before and
# after the workload), and for the daemon's whole run: the CPU its garbage
# collector used (GODEBUG=gctrace=1: every cycle's "ms cpu", summed) and
# its share of the daemon's CPU seconds (utime+stime), the GC cycles, and
# the peak RSS (VmHWM). Caches are dropped before each read, stat and unlink phase.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VOLFILE=${1:-@default}
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-16384}
NFILES=${NFILES:-5000}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/xstack-pools.XXXXXX)}
BIN=$BENCH_DIR/bin
LOGS=$BENCH_DIR/logs
RESULTS=$BENCH_DIR/results.tsv
WORKLOADS=(write read create stat unlink)

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root: the script mounts and drops caches"
mkdir -p "$BIN" "$LOGS"

PID=
MNT=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_daemon || true
	log "results in $RESULTS"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

stop_daemon() {
	[[ -n $PID ]] || return 0
	kill -TERM "$PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		umount -l "$MNT" 2>/dev/null || true
		kill -KILL "$PID" 2>/dev/null || true
	fi
	PID=
}

# fops: the fops the top translator has counted so far.
fops() {
	"$BIN/xstack-pools" dump --json --parts fops "$MNT" |
		jq '[.xlators[] | select(.index == 0) | .fops[]?.count] | add // 0'
}

# phase NAME CMD...: runs CMD and prints NAME's fops per second.
phase() {
	local name=$1 before after t0 t1
	shift
	before=$(fops)
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	after=$(fops)
	awk -v n="$((after - before))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", n / (t1 - t0) }'
}

run() {
	local build=$1 round=$2 dir=$BENCH_DIR/run i
	rm -rf "$dir"
	mkdir -p "$dir/data" "$dir/mnt"
	MNT=$dir/mnt
	GODEBUG=gctrace=1 "$BIN/xstack-$build" mount --data "$dir/data" "$VOLFILE" "$MNT" >"$LOGS/$build.$round.log" 2>&1 &
	PID=$!
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$MNT" && break
		kill -0 "$PID" 2>/dev/null || die "$build: daemon exited (log: $LOGS/$build.$round.log)"
		sleep 0.05
	done
	mountpoint -q "$MNT" || die "$build: not mounted after 10s"
	local -a r=()
	r+=("$(phase write dd if=/dev/zero of="$MNT/seq" bs=4k count="$COUNT")")
	drop_caches
	r+=("$(phase read dd if="$MNT/seq" of=/dev/null bs=4k)")
	r+=("$(phase create "$BIN/metabench" -op create -dir "$MNT/meta" -n "$NFILES")")
	drop_caches
	r+=("$(phase stat "$BIN/metabench" -op stat -dir "$MNT/meta" -n "$NFILES")")
	drop_caches
	r+=("$(phase unlink "$BIN/metabench" -op unlink -dir "$MNT/meta" -n "$NFILES")")
	local stat cpu hwm gcpct gcs
	read -r -a stat <"/proc/$PID/stat"
	cpu=$(awk -v u="${stat[13]}" -v s="${stat[14]}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }')
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")
	stop_daemon
	# GC CPU: every gctrace line's "A+B/C/D+E ms cpu", summed.
	gcms=$(grep '^gc [0-9]' "$LOGS/$build.$round.log" | sed 's/.*, \([0-9.+/]*\) ms cpu.*/\1/' |
		awk -F'[+/]' '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.0f", s }')
	gcs=$(grep -c '^gc [0-9]' "$LOGS/$build.$round.log" || true)
	gcpct=$(awk -v g="$gcms" -v c="$cpu" 'BEGIN { printf("%.1f", (c > 0 ? g / 10 / c : 0)) }')
	local IFS=$'\t'
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$build" "$round" "${r[*]}" "$gcms" "$gcpct" "$gcs" "$cpu" "$((hwm / 1024))" >>"$RESULTS"
	IFS=' '
	log "$build round $round: ${WORKLOADS[*]} fops/s ${r[*]}; gc ${gcms} ms cpu (${gcpct}% of ${cpu}s, $gcs cycles), peak rss $((hwm / 1024)) MiB"
}

log "building into $BIN"
(cd "$REPO" && go build -o "$BIN/xstack-pools" ./cmd/xstack &&
	go build -tags nopools -o "$BIN/xstack-nopools" ./cmd/xstack &&
	go build -o "$BIN/metabench" ./bench/metabench)

printf 'build\tround\t%s\tgc_cpu_ms\tgc_pct_of_cpu\tgc_cycles\tcpu_s\tpeak_rss_mib\n' "$(
	IFS=$'\t'
	echo "${WORKLOADS[*]}"
)" >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
	if ((round % 2)); then order=(pools nopools); else order=(nopools pools); fi
	for b in "${order[@]}"; do
		run "$b" "$round"
	done
done

# Medians per build, one column per figure.
echo
awk -F'\t' '
NR == 1 { for (i = 3; i <= NF; i++) name[i] = $i; nf = NF; next }
{ builds[$1] = 1; n[$1]++; for (i = 3; i <= NF; i++) v[$1, i, n[$1]] = $i }
function median(b, i,   k, m, a, j, t) {
	m = n[b]
	for (k = 1; k <= m; k++) a[k] = v[b, i, k] + 0
	for (k = 1; k <= m; k++) for (j = k + 1; j <= m; j++) if (a[j] < a[k]) { t = a[k]; a[k] = a[j]; a[j] = t }
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	printf "| median of %d rounds |", n["pools"]
	for (i = 3; i <= nf; i++) printf " %s |", name[i]
	printf "\n|---|"
	for (i = 3; i <= nf; i++) printf "---|"
	printf "\n"
	split("pools nopools", order, " ")
	for (o = 1; o <= 2; o++) {
		b = order[o]
		printf "| %s |", b
		for (i = 3; i <= nf; i++) printf " %s |", median(b, i)
		printf "\n"
	}
}' "$RESULTS"
