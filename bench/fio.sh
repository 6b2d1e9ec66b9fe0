#!/usr/bin/env bash
# bench/fio.sh: xstack against go-fuse's loopback and GlusterFS's
# storage/posix, same machine, same file system, same run.
#
#   bench/fio.sh [VOLFILE]            # default volfiles/posix.hcl; run as root
#
# Environment (defaults in brackets):
#   SIZE [1G]        file size for the sequential and random workloads
#   RUNTIME [15]     seconds for each time-based random workload
#   REPEAT [1]       rounds; targets alternate within each workload
#   NFILES [10000]   files for the metadata workloads
#   METAJOBS [1]     goroutines (each its own directory) for metadata
#   TARGETS ["xstack loopback gluster"]   gluster is skipped if not installed;
#                    xstack-uring is xstack with the volfile's mount block
#                    set to transport = "io-uring" (FUSE over io_uring)
#   WORKLOADS ["seqwrite seqread randread randread4 randwrite create stat unlink"]
#   BENCH_DIR [mktemp -d /tmp/xstack-bench.XXXXXX]  all the script writes
#   RESULTS_DIR [$BENCH_DIR/results]                 CSV, table, logs, dumps
#   KEEP [0]         1 keeps the bricks after the run
#   SEQREAD_BRICK [warm]  warm: seqread with the brick file in the brick's
#                    page cache (the mount's pages dropped); cold: from disk
#   XSTACK_ARGS []   extra flags for xstack mount (e.g. "-var foo=bar")
#   LOOPBACK_ARGS [] extra flags for the loopback (e.g. "-passthrough", the
#                    baseline of volfiles/passthrough.hcl)
#
# Everything goes under BENCH_DIR: binaries, bricks, mount points, logs,
# results. The only things outside it the script touches are
# /proc/sys/vm/drop_caches and, with the xstack-uring target,
# /sys/module/fuse/parameters/enable_uring (set to Y for the run, its old
# value put back on exit). On exit (or Ctrl-C) every mount is unmounted
# and the bricks are removed; the results stay. See bench/README.md.
set -euo pipefail

SIZE=${SIZE:-1G}
RUNTIME=${RUNTIME:-15}
REPEAT=${REPEAT:-1}
NFILES=${NFILES:-10000}
METAJOBS=${METAJOBS:-1}
TARGETS=${TARGETS:-"xstack loopback gluster"}
WORKLOADS=${WORKLOADS:-"seqwrite seqread randread randread4 randwrite create stat unlink"}
KEEP=${KEEP:-0}
SEQREAD_BRICK=${SEQREAD_BRICK:-warm}
[[ $SEQREAD_BRICK == warm || $SEQREAD_BRICK == cold ]] || { echo "fio.sh: SEQREAD_BRICK must be warm or cold, not $SEQREAD_BRICK" >&2; exit 2; }
XSTACK_ARGS=${XSTACK_ARGS:-}
LOOPBACK_ARGS=${LOOPBACK_ARGS:-}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VOLFILE=${1:-${VOLFILE:-volfiles/posix.hcl}}
if [[ -f $VOLFILE ]]; then
	VOLFILE=$(cd "$(dirname "$VOLFILE")" && pwd)/$(basename "$VOLFILE")
elif [[ -f $REPO/$VOLFILE ]]; then
	VOLFILE=$REPO/$VOLFILE
else
	echo "fio.sh: volfile $VOLFILE not found" >&2
	exit 2
fi

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "fio.sh: $*"
	exit 1
}

command -v fio >/dev/null || die "fio is not installed (apt-get install fio)"
command -v go >/dev/null || die "go is not installed"
[[ $(id -u) == 0 ]] || log "warning: not root: caches are not dropped between phases (reads may come from the page cache); xstack and loopback mount through fusermount"

if [[ -z ${BENCH_DIR:-} ]]; then
	BENCH_DIR=$(mktemp -d /tmp/xstack-bench.XXXXXX)
else
	mkdir -p "$BENCH_DIR"
	BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
fi
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
mkdir -p "$RESULTS_DIR"
RESULTS_DIR=$(cd "$RESULTS_DIR" && pwd)
BIN=$BENCH_DIR/bin
LOGS=$RESULTS_DIR/logs
DUMPS=$RESULTS_DIR/dumps
CSV=$RESULTS_DIR/results.csv
mkdir -p "$BIN" "$LOGS" "$DUMPS"

# Targets that are actually run (gluster drops out if not installed).
RUN_TARGETS=()
for t in $TARGETS; do
	case $t in
	xstack | loopback) RUN_TARGETS+=("$t") ;;
	xstack-uring)
		[[ -w /sys/module/fuse/parameters/enable_uring ]] || die "xstack-uring: this kernel has no FUSE over io_uring (no writable /sys/module/fuse/parameters/enable_uring)"
		RUN_TARGETS+=("$t")
		;;
	gluster)
		if command -v glusterfs >/dev/null; then
			RUN_TARGETS+=("$t")
		else
			log "gluster: skipped (glusterfs is not installed; apt-get install glusterfs-client glusterfs-server)"
		fi
		;;
	*) die "unknown target $t (want xstack, xstack-uring, loopback, gluster)" ;;
	esac
done
((${#RUN_TARGETS[@]} > 0)) || die "no targets to run"

declare -A PID=() # target -> daemon pid
mnt() { echo "$BENCH_DIR/mnt/$1"; }
brick() { echo "$BENCH_DIR/bricks/$1"; }

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

# wait_gone PID SECONDS: wait for a daemon we started to exit.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

unmount_target() {
	local t=$1 mp pid
	mp=$(mnt "$t")
	pid=${PID[$t]:-}
	if is_mounted "$mp"; then
		case $t in
		# xstack and loopback unmount themselves on SIGTERM and exit.
		xstack | xstack-uring | loopback) [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || umount "$mp" 2>/dev/null || true ;;
		gluster) umount "$mp" 2>/dev/null || true ;;
		esac
	fi
	if [[ -n $pid ]] && ! wait_gone "$pid" 10; then
		log "$t: daemon $pid did not exit; lazy unmount and SIGKILL"
		umount -l "$mp" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if is_mounted "$mp"; then
		umount -l "$mp" 2>/dev/null || true
	fi
	unset "PID[$t]"
}

cleanup() {
	local rc=$? t
	trap - EXIT INT TERM
	for t in "${!PID[@]}"; do
		unmount_target "$t"
	done
	if [[ $KEEP != 1 ]]; then
		rm -rf "$BENCH_DIR/bricks" "$BENCH_DIR/mnt"
	fi
	if [[ -n ${OLD_ENABLE_URING:-} ]]; then
		echo "$OLD_ENABLE_URING" >/sys/module/fuse/parameters/enable_uring || true
	fi
	log "results in $RESULTS_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_mounted TARGET: until the mount is up, or fail if the daemon died.
wait_mounted() {
	local t=$1 mp i
	mp=$(mnt "$t")
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mp" && return 0
		if ! kill -0 "${PID[$t]}" 2>/dev/null; then
			tail -20 "$LOGS/$t.log" >&2 || true
			die "$t: daemon exited before mounting (log: $LOGS/$t.log)"
		fi
		sleep 0.05
	done
	tail -20 "$LOGS/$t.log" >&2 || true
	die "$t: not mounted after 10s (log: $LOGS/$t.log)"
}

mount_target() {
	local t=$1 mp b
	mp=$(mnt "$t")
	b=$(brick "$t")
	mkdir -p "$mp" "$b"
	case $t in
	xstack)
		# shellcheck disable=SC2086 # XSTACK_ARGS is split on purpose
		"$BIN/xstack" mount -var "data=$b" -var "mount=$mp" $XSTACK_ARGS "$VOLFILE" "$mp" >"$LOGS/xstack.log" 2>&1 &
		;;
	xstack-uring)
		if [[ -z ${OLD_ENABLE_URING:-} ]]; then
			OLD_ENABLE_URING=$(cat /sys/module/fuse/parameters/enable_uring)
			echo Y >/sys/module/fuse/parameters/enable_uring
		fi
		sed 's/^mount {/mount {\n  transport = "io-uring"/' "$VOLFILE" >"$BENCH_DIR/uring.hcl"
		grep -q 'transport = "io-uring"' "$BENCH_DIR/uring.hcl" || die "xstack-uring: $VOLFILE has no mount block to set the transport in"
		# shellcheck disable=SC2086 # XSTACK_ARGS is split on purpose
		"$BIN/xstack" mount -var "data=$b" -var "mount=$mp" $XSTACK_ARGS "$BENCH_DIR/uring.hcl" "$mp" >"$LOGS/xstack-uring.log" 2>&1 &
		;;
	loopback)
		# shellcheck disable=SC2086 # LOOPBACK_ARGS is split on purpose
		"$BIN/loopback" $LOOPBACK_ARGS "$b" "$mp" >"$LOGS/loopback.log" 2>&1 &
		;;
	gluster)
		cat >"$BENCH_DIR/gluster.vol" <<-EOF
			# GlusterFS client volfile: storage/posix alone, no
			# performance translators, mounted by the fuse bridge.
			volume posix
			  type storage/posix
			  option directory $b
			end-volume
		EOF
		glusterfs -N --volfile="$BENCH_DIR/gluster.vol" --log-file="$LOGS/gluster.log" \
			--attribute-timeout=1 --entry-timeout=1 --negative-timeout=0 "$mp" >"$LOGS/gluster.out" 2>&1 &
		;;
	esac
	PID[$t]=$!
	wait_mounted "$t"
	log "$t: mounted at $mp (pid ${PID[$t]})"
}

# drop_caches flushes dirty data and drops the page, dentry and inode
# caches, so that the next phase reads through the stack to the disk.
drop_caches() {
	sync
	{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true
}

# warm_memory makes the next data phase find host-backed free memory.
# Under a hypervisor with free page reporting (virtio-balloon; Firecracker
# guests boot with page_reporting.page_reporting_order=11) memory the
# guest freed more than ~2 s ago has been handed back to the host, and the
# first touch of each page costs a host fault: a phase that gets such
# pages for its page cache runs at a third of the speed of one that does
# not, whichever target it is. So before each data phase write 2 x SIZE
# (the FUSE mount's page cache and the brick's) to scratch files and delete
# them unflushed: no disk IO, and the pages the phase allocates next were
# touched just now.
warm_memory() {
	local i
	for i in 1 2; do
		fio --name=warm --filename="$BENCH_DIR/warm.$i" --rw=write --bs=1M --size="$SIZE" \
			--ioengine=psync --fallocate=none --output-format=terse >/dev/null || true
	done
	rm -f "$BENCH_DIR/warm.1" "$BENCH_DIR/warm.2"
}

unit_of() {
	case $1 in
	seqwrite | seqread) echo MiB/s ;;
	randread | randread4 | randwrite) echo IOPS ;;
	create | stat | unlink) echo ops/s ;;
	*) die "unknown workload $1" ;;
	esac
}

# fio_run NAME FIELD ARGS...: run one fio job (terse output, group
# reporting) and print terse field FIELD: 7 read KiB/s, 8 read IOPS,
# 48 write KiB/s, 49 write IOPS.
fio_run() {
	local name=$1 field=$2 out
	shift 2
	out=$(fio --name="$name" --ioengine=psync --fallocate=none --group_reporting \
		--output-format=terse --terse-version=3 "$@") || return 1
	printf '%s\n' "$out" >>"$LOGS/fio.terse"
	awk -F';' -v f="$field" 'NR == 1 { print $f }' <<<"$out"
}

# run_workload WORKLOAD TARGET: print the result in the workload's unit.
run_workload() {
	local w=$1 t=$2 mp f v
	mp=$(mnt "$t")
	f=$mp/data.bin
	case $w in
	seqwrite)
		rm -f "$f"
		drop_caches
		warm_memory
		v=$(fio_run "$w" 48 --filename="$f" --rw=write --bs=1M --size="$SIZE") || return 1
		awk -v v="$v" 'BEGIN { printf "%.1f\n", v / 1024 }'
		;;
	seqread)
		drop_caches
		warm_memory
		if [[ $SEQREAD_BRICK == warm ]]; then
			# The brick file in the brick's page cache, the mount's
			# pages invalidated by fio: every byte still crosses FUSE
			# and the daemon, but not this VM's disk, whose speed
			# swings between 1.5 and 6 GB/s from run to run.
			cat "$(brick "$t")/data.bin" >/dev/null
			v=$(fio_run "$w" 7 --filename="$f" --rw=read --bs=1M --size="$SIZE" --invalidate=1) || return 1
		else
			v=$(fio_run "$w" 7 --filename="$f" --rw=read --bs=1M --size="$SIZE") || return 1
		fi
		awk -v v="$v" 'BEGIN { printf "%.1f\n", v / 1024 }'
		;;
	randread | randread4)
		local jobs=1
		[[ $w == randread4 ]] && jobs=4
		drop_caches
		fio_run "$w" 8 --filename="$f" --rw=randread --bs=4k --size="$SIZE" --direct=1 \
			--numjobs="$jobs" --time_based --runtime="$RUNTIME"
		;;
	randwrite)
		drop_caches
		fio_run "$w" 49 --filename="$f" --rw=randwrite --bs=4k --size="$SIZE" --direct=1 \
			--time_based --runtime="$RUNTIME"
		;;
	create | stat | unlink)
		# Without asyncpreemptoff the Go runtime's preemption signals
		# make the kernel send FUSE INTERRUPTs for requests in flight.
		[[ $w == create ]] && rm -rf "$mp/meta"
		if [[ $w == unlink && -z $(find "$mp/meta" -type f -print -quit 2>/dev/null) ]]; then
			# A later round: the previous one unlinked the files; make them
			# again, untimed.
			rm -rf "$mp/meta"
			GODEBUG=asyncpreemptoff=1 "$BIN/metabench" -op create -dir "$mp/meta" -n "$NFILES" -jobs "$METAJOBS" >/dev/null
		fi
		drop_caches
		GODEBUG=asyncpreemptoff=1 "$BIN/metabench" -op "$w" -dir "$mp/meta" -n "$NFILES" -jobs "$METAJOBS" | tee -a "$LOGS/metabench.out" |
			awk 'END { print $4 }'
		;;
	esac
}

# ---- build and mount ------------------------------------------------------

log "building into $BIN"
(cd "$REPO" && go build -o "$BIN/xstack" ./cmd/xstack && go build -o "$BIN/loopback" ./cmd/loopback &&
	go build -o "$BIN/metabench" ./bench/metabench) || die "build failed"

{
	echo "date=$(date -Is)"
	echo "volfile=$VOLFILE"
	echo "git=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$REPO" && git diff --quiet 2>/dev/null || echo -dirty)"
	echo "kernel=$(uname -r) cpus=$(nproc)"
	echo "fio=$(fio --version)"
	command -v glusterfs >/dev/null && echo "glusterfs=$(glusterfs --version | head -1)"
	echo "SIZE=$SIZE RUNTIME=$RUNTIME REPEAT=$REPEAT NFILES=$NFILES METAJOBS=$METAJOBS"
	echo "targets=${RUN_TARGETS[*]} workloads=$WORKLOADS"
	echo "brick filesystem=$(df -T "$BENCH_DIR" | awk 'NR == 2 { print $1, $2 }')"
} >"$RESULTS_DIR/env.txt"

for t in "${RUN_TARGETS[@]}"; do
	mount_target "$t"
done

# ---- run: for each workload, REPEAT rounds alternating the targets -------

echo "workload,unit,target,round,value" >"$CSV"
declare -A VALUES=() # workload,target -> space-separated values
for w in $WORKLOADS; do
	unit=$(unit_of "$w")
	for ((r = 1; r <= REPEAT; r++)); do
		# Each round starts with the next target, so that none is always
		# the first after the previous workload (or always the last).
		for ((k = 0; k < ${#RUN_TARGETS[@]}; k++)); do
			t=${RUN_TARGETS[(r - 1 + k) % ${#RUN_TARGETS[@]}]}
			if v=$(run_workload "$w" "$t") && [[ -n $v ]]; then
				:
			else
				log "$w on $t failed (see $LOGS)"
				v=err
			fi
			log "$w round $r $t: $v $unit"
			echo "$w,$unit,$t,$r,$v" >>"$CSV"
			VALUES[$w,$t]="${VALUES[$w,$t]:-} $v"
			if [[ $t == xstack || $t == xstack-uring ]]; then
				"$BIN/xstack" dump "$(mnt "$t")" >"$DUMPS/$t.$w.$r.txt" 2>&1 || true
			fi
		done
	done
done

# The loopback prints the READ and WRITE requests it served on exit: proof
# that passthrough was off and the data went through the daemon.
for t in "${RUN_TARGETS[@]}"; do
	unmount_target "$t"
done
if [[ -f $LOGS/loopback.log ]]; then
	served=$(grep -o 'served .*' "$LOGS/loopback.log" || true)
	log "loopback: ${served:-no request counts in $LOGS/loopback.log}"
fi

# ---- table -----------------------------------------------------------------

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (a[1] == "err") { print "err"; exit } if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f\n", a / b; else print "-" }'; }
# goal WORKLOAD XL XG: the targets: xstack/loopback >= 0.90 on data
# workloads and >= 0.80 on metadata; xstack/gluster >= 1.
goal() {
	local min=0.90
	case $1 in create | stat | unlink) min=0.80 ;; esac
	awk -v xl="$2" -v xg="$3" -v min="$min" 'BEGIN {
		s = ""
		if (xl != "-") s = s (xl + 0 >= min ? "ok" : "LOW") "(>=" min ")"
		if (xg != "-") s = s (s == "" ? "" : " ") (xg + 0 >= 1 ? "ok" : "LOW") "(>=1)"
		print (s == "" ? "-" : s)
	}'
}

SUMMARY=$RESULTS_DIR/summary.csv
TABLE=$RESULTS_DIR/table.txt
echo "workload,unit,xstack,loopback,gluster,xstack/loopback,xstack/gluster" >"$SUMMARY"
{
	printf '%-10s %-6s %10s %10s %10s %16s %15s  %s\n' workload unit xstack loopback gluster xstack/loopback xstack/gluster goals
	for w in $WORKLOADS; do
		declare -A M=()
		for t in xstack loopback gluster; do
			M[$t]=$(median <<<"${VALUES[$w,$t]:-}")
			[[ -n ${M[$t]} ]] || M[$t]=-
		done
		xl=$(ratio "${M[xstack]}" "${M[loopback]}")
		xg=$(ratio "${M[xstack]}" "${M[gluster]}")
		printf '%-10s %-6s %10s %10s %10s %16s %15s  %s\n' "$w" "$(unit_of "$w")" \
			"${M[xstack]}" "${M[loopback]}" "${M[gluster]}" "$xl" "$xg" "$(goal "$w" "$xl" "$xg")"
		echo "$w,$(unit_of "$w"),${M[xstack]},${M[loopback]},${M[gluster]},$xl,$xg" >>"$SUMMARY"
		unset M
	done
} | tee "$TABLE"
if [[ -n ${VALUES[*]:-} && " ${RUN_TARGETS[*]} " == *" xstack-uring "* ]]; then
	# The two transports of one volfile: io-uring's median over dev-fuse's.
	echo
	{
		printf '%-10s %-6s %12s %12s %13s\n' workload unit dev-fuse io-uring io-uring/dev
		for w in $WORKLOADS; do
			d=$(median <<<"${VALUES[$w,xstack]:-}")
			u=$(median <<<"${VALUES[$w,xstack-uring]:-}")
			printf '%-10s %-6s %12s %12s %13s\n' "$w" "$(unit_of "$w")" "${d:--}" "${u:--}" "$(ratio "$u" "$d")"
		done
	} | tee -a "$TABLE"
	grep -h -o 'ring.requests.*' "$DUMPS"/xstack-uring.* 2>/dev/null | tail -1 | sed 's/^/xstack-uring: /'
fi
echo
echo "SIZE=$SIZE RUNTIME=${RUNTIME}s REPEAT=$REPEAT NFILES=$NFILES; median of $REPEAT round(s); raw: $CSV"
