# Helpers shared by the whole-server benchmarks (sourced, not run): work directory and
# processes stopped by their PID, free ports, /proc readings, the API, /metrics, SIPp's
# statistics files, Centrala's log. The sourcing script sets BENCH (its name, for
# messages) and ROOT, and before it uses them KEEP, METRICS (what metrics keeps) and, for
# free_port to keep out of an RTP range, RTP_PORT_MIN and RTP_PORT_MAX (rtp_range sets
# them); centrala_setup sets TOKEN, HTTP_PORT, SIP_PORT, CLOG and CENTRALA_ENV.

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "$BENCH: $*"
	exit 1
}

# bench_workdir PREFIX: makes WORK, removed at exit unless KEEP=1, after every process in
# PIDS was stopped.
bench_workdir() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}
bench_cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do
		stop_pid "$p"
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}

# stop_pid PID [SIGNAL]: SIGNAL (TERM), then SIGKILL after 10 s; only processes started here
# (children of this shell, reaped, then dropped from PIDS so a reused PID is never hit).
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	if kill -0 "$pid" 2>/dev/null; then
		kill "-$sig" "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

# forget_pid PID: a child that has exited and been reaped is no longer ours to stop.
forget_pid() {
	local p keep=()
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# wait_child PID: waits until a process started here ends, reaps and forgets it; sets
# CHILD_CPU to its CPU time (ticks) as last read while it ran.
wait_child() {
	local x
	CHILD_CPU=0
	while kill -0 "$1" 2>/dev/null; do
		x=$(cpu_ticks "$1")
		((x > CHILD_CPU)) && CHILD_CPU=$x
		sleep 0.2
	done
	wait "$1" 2>/dev/null || true
	forget_pid "$1"
}

# ---------------------------------------------------------------- ports
# port_used PORT: some TCP or UDP socket uses it (from /proc/net).
port_used() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6 2>/dev/null
}

port_bound() { # port_bound PROTO PORT
	local hex
	hex=$(printf '%04X' "$2")
	awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
		"/proc/net/$1" "/proc/net/${1}6" 2>/dev/null
}

# hex(s): the number a hexadecimal string (a port of /proc/net/udp) stands for (mawk has no strtonum)
AWK_HEX='function hex(s,   i, n) { n = 0; s = toupper(s); for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1; return n }
'

# rtp_range SPAN: sets RTP_PORT_MIN (unless set) to the window of 20000-60000 (steps of
# 1000) that other sockets use least, and RTP_PORT_MAX.
rtp_range() {
	local span=$1
	if [[ -z ${RTP_PORT_MIN:-} ]]; then
		RTP_PORT_MIN=$(awk -v span="$span" "$AWK_HEX"'FNR > 1 { split($2, a, ":"); used[hex(a[2])] = 1 }
			END {
				best = -1
				for (s = 20000; s + span <= 60000; s += 1000) {
					n = 0
					for (p in used) if (p + 0 >= s && p + 0 < s + span) n++
					if (best < 0 || n < bestn) { best = s; bestn = n }
				}
				print best
			}' /proc/net/udp /proc/net/udp6)
		((RTP_PORT_MIN > 0)) || die "no room for $span RTP ports in 20000-60000"
	fi
	RTP_PORT_MAX=$((RTP_PORT_MIN + span - 1))
}

# free_port [N]: the first of N consecutive ports that no socket uses, outside the RTP range,
# not given out before.
USED_PORTS=" "
free_port() {
	local n=${1:-1} p i ok
	while :; do
		p=$((20000 + RANDOM % 40000))
		((p + n - 1 < ${RTP_PORT_MIN:-0} || p > ${RTP_PORT_MAX:-0})) || continue
		ok=1
		for ((i = 0; i < n; i++)); do
			if [[ $USED_PORTS == *" $((p + i)) "* ]] || port_used $((p + i)); then
				ok=0
				break
			fi
		done
		((ok)) || continue
		for ((i = 0; i < n; i++)); do USED_PORTS+="$((p + i)) "; done
		echo "$p"
		return
	done
}

# udp_rcvbuf_errors: datagrams dropped machine-wide for a full receive buffer.
udp_rcvbuf_errors() {
	awk '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
		$1 == "Udp:" { print $c; exit }' /proc/net/snmp
}

# ---------------------------------------------------------------- /proc
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID...: utime+stime of the processes, in clock ticks (0 for a gone process).
cpu_ticks() {
	local p line rest sum=0
	for p in "$@"; do
		{ read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
		rest=${line##*) }
		set -- $rest
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

# mem_kb PID: "RSS PSS" in kB.
mem_kb() {
	awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { s += $2 } END { printf "%d %d\n", r, s }' \
		"/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0"
}

threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

now() { date +%s.%N; }

# ---------------------------------------------------------------- Centrala
# build_centrala: CENTRALA_BIN, built into WORK unless given.
build_centrala() {
	[[ -z ${CENTRALA_BIN:-} ]] || return 0
	CENTRALA_BIN=$WORK/centrala
	log "building ./cmd/centrala"
	(cd "$ROOT" && go build -o "$CENTRALA_BIN" ./cmd/centrala) || die "go build ./cmd/centrala failed"
}

# centrala_setup ENV...: free SIP and HTTP ports, an admin TOKEN, a SALT for passwords,
# WORK/data, CLOG, and CENTRALA_ENV: the configuration file WORK/centrala.yaml (the script
# writes it), the addresses, the token, warn logs, ENV..., then CENTRALA_EXTRA_ENV (the last
# value of a name wins).
centrala_setup() {
	SIP_PORT=$(free_port)
	HTTP_PORT=$(free_port)
	TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	SALT=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
	mkdir -p "$WORK/data"
	CLOG=$WORK/centrala.log
	CENTRALA_ENV=(CENTRALA_CONFIG="$WORK/centrala.yaml" CENTRALA_DATA_DIR="$WORK/data"
		CENTRALA_SIP_ADDR="127.0.0.1:$SIP_PORT" CENTRALA_HTTP_ADDR="127.0.0.1:$HTTP_PORT"
		CENTRALA_ADMIN_TOKEN="$TOKEN" CENTRALA_LOG_LEVEL=warn "$@")
	# shellcheck disable=SC2206
	CENTRALA_ENV+=(${CENTRALA_EXTRA_ENV:-})
}

# centrala_yaml: the configuration every benchmark needs: media on 127.0.0.1 in the RTP
# range, digest challenges in MD5 only (SIPp 3.6 answers nothing else).
centrala_yaml() {
	cat <<EOF
media:
  rtp_bind_addr: 127.0.0.1
  rtp_port_min: $RTP_PORT_MIN
  rtp_port_max: $RTP_PORT_MAX
registrar:
  digest_algorithms: [MD5]
EOF
}

# start_centrala: runs CENTRALA_BIN with the environment CENTRALA_ENV, its output to CLOG,
# until /healthz answers and SIP_PORT is bound; sets CPID.
start_centrala() {
	local i
	env "${CENTRALA_ENV[@]}" "$CENTRALA_BIN" >>"$CLOG" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$CPID" 2>/dev/null || {
			tail -20 "$CLOG" >&2
			die "centrala exited while starting"
		}
		curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && port_bound udp "$SIP_PORT" && return 0
		sleep 0.1
	done
	tail -20 "$CLOG" >&2
	die "centrala did not start (healthz, udp $SIP_PORT)"
}

# restart_centrala: a new process on the same data. After provisioning: the API hashed
# passwords with argon2id, whose memory Go returns to the system only slowly.
restart_centrala() {
	stop_pid "$CPID"
	start_centrala
}

# start_redis DIR: a redis-server without persistence on a free loopback port, its log in
# DIR; sets REDIS_PORT and REDIS_PID.
start_redis() {
	local i
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" >"$1/redis.log" 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	for ((i = 0; i < 100; i++)); do
		port_bound tcp "$REDIS_PORT" && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "redis-server did not start: $(tail -5 "$1/redis.log")"
}

# sipp_ports: MAXSOCK for SIPp (-max_socket: below the open-file limit), and free ports for a
# UAS (UAS_PORT, media UAS_MP) and a UAC (media UAC_MP).
sipp_ports() {
	MAXSOCK=$(($(ulimit -n) - 256))
	((MAXSOCK > 50000)) && MAXSOCK=50000
	UAS_PORT=$(free_port)
	UAS_MP=$(free_port 4)
	UAC_MP=$(free_port 4)
}

# ---------------------------------------------------------------- Centrala's API and log
api() { # api METHOD PATH JSON -> body on stdout, fails unless 2xx
	curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		--data "$3" "http://127.0.0.1:$HTTP_PORT$2"
}

json_id() { sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}]*\).*/\1/p' | head -1; }

# metrics FILE: the /metrics lines the report reads, those whose name matches METRICS (an
# extended regular expression, from the start of the line).
metrics() {
	curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E "^($METRICS)" >"$1" || die "GET /metrics failed"
}

mval() { # mval FILE NAME{labels} -> value (0 when absent)
	awk -v k="$2" '$1 == k { v = $2 } END { printf "%.0f\n", v + 0 }' "$1"
}

# log_summary FROM_BYTE: Centrala's log lines written since, counted by level and message.
log_summary() {
	tail -c +"$(($1 + 1))" "$CLOG" | awk '
		{ lvl = ""; msg = ""
		  if (match($0, /level=[A-Z]+/)) lvl = substr($0, RSTART + 6, RLENGTH - 6)
		  if (match($0, /msg="[^"]*"/)) msg = substr($0, RSTART + 5, RLENGTH - 6)
		  else if (match($0, /msg=[^ ]+/)) msg = substr($0, RSTART + 4, RLENGTH - 4)
		  if (lvl == "") { lvl = "OTHER"; msg = substr($0, 1, 80) }
		  n[lvl ": " msg]++ }
		END { for (k in n) printf "%d x %s; ", n[k], k }'
}
log_size() { stat -c %s "$CLOG"; }

# ---------------------------------------------------------------- SIPp's statistics
# stats_last DIR COLUMN...: values of the columns in the last row of DIR/stats.csv.
stats_last() {
	local f=$1/stats.csv
	shift
	[[ -s $f ]] || {
		echo 0 0 0 0 0 0 0 0 | cut -d' ' -f1-$#
		return
	}
	awk -F';' -v cols="$*" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 10 { last = $0 }
		END { n = split(last, f, ";"); k = split(cols, c, " ")
			for (i = 1; i <= k; i++) printf "%s%s", (i > 1 ? " " : ""), (c[i] in col ? f[col[c[i]]] : 0)
			print "" }' "$f"
}

# sipp_elapsed DIR: SIPp's elapsed time in seconds, with microseconds, from its counts file.
sipp_elapsed() {
	local counts
	counts=$(ls "$1"/*_counts.csv 2>/dev/null | head -1 || true)
	[[ -n $counts ]] || return 0
	awk -F';' 'NR > 1 && NF > 2 { e = $2 } END {
		split(e, t, ":"); if (length(t) == 4) printf "%.3f", t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1e6 }' "$counts"
}

# failures DIR: "reason=count" for the nonzero Failed*(C) columns, and the unusual responses
# the caller received (from -trace_counts), e.g. "FailedTimeoutOnRecv=3 503x3".
failures() {
	local dir=$1 out counts
	out=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(Failed|OutOfCall|DeadCall).*\(C\)$/) col[i] = $i; next }
		NF > 10 { last = $0 }
		END { n = split(last, f, ";"); for (i in col) if (f[i] + 0 > 0 && col[i] != "FailedCall(C)") { x = col[i]; sub(/\(C\)/, "", x); printf "%s=%d ", x, f[i] } }' \
		"$dir/stats.csv" 2>/dev/null || true)
	counts=$(ls "$dir"/*_counts.csv 2>/dev/null | head -1 || true)
	if [[ -n $counts ]]; then
		out+=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
			NF > 2 { last = $0 }
			END { n = split(last, f, ";")
				for (i = 1; i <= n; i++) if (h[i] ~ /^[0-9]+_[0-9][0-9][0-9]_Recv$/) { split(h[i], p, "_"); c = p[2]
					if (c != 100 && c != 180 && c != 200 && c != 407 && f[i] > 0) s[c] += f[i] }
				for (c in s) printf "%sx%d ", c, s[c] }' "$counts")
	fi
	echo "${out% }"
}
