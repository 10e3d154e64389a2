#!/usr/bin/env bash
# Whole-server benchmark: REGISTER with digest authentication, per second, for ACCOUNTS
# distinct accounts, with SIPp (deploy/sipp/register_digest.xml) against, in one run and
# on this machine:
#   centrala-memory   Centrala, registrations in process
#   centrala-redis    Centrala, registrations in a redis-server started here
#   kamailio          Kamailio 5 registrar (usrloc in memory), credentials in db_text
#   kamailio-htable   the same, credentials loaded once into an htable (in memory)
#
# One "REGISTER" is one SIPp call: REGISTER -> 401 -> REGISTER with Authorization -> 200.
# Printed per implementation: successful REGISTER/s, server CPU per REGISTER (utime+stime of
# the server's processes from /proc, before/after), memory before/after (RSS, and PSS summed
# over the server's processes: Kamailio is several processes sharing memory) and memory per
# registration (PSS growth / ACCOUNTS), then the Centrala/Kamailio ratios.
#
# Usage: deploy/bench/register.sh            (make bench)
# Settings (environment):
#   ACCOUNTS=10000 USERS=10       accounts, spread over USERS users (Centrala API)
#   CALLS=50000                   SIPp calls per implementation (-m); accounts are reused
#                                 in order, so the first ACCOUNTS calls make bindings and
#                                 the rest refresh them
#   RATE=5000 RATE_PERIOD_MS=1000 offered load (-r/-rp), above what the servers sustain
#   LIMIT=2000                    concurrent calls at most (-l)
#   DURATION=180                  seconds a SIPp run may last at most (-timeout)
#   TARGETS="centrala-memory centrala-redis kamailio kamailio-htable"
#   KAMAILIO_CHILDREN=4           Kamailio UDP worker processes (-n)
#   CENTRALA_BIN=path             a built centrala instead of `go build ./cmd/centrala`
#   CENTRALA_EXTRA_ENV="K=V ..."  more environment for Centrala
#   KEEP=1                        keep the work directory (logs, SIPp statistics)
# Installs sipp, redis-server, kamailio and curl with deploy/test-deps.sh when missing.
# Everything listens on 127.0.0.1 on free ports; every process started here is stopped by
# its PID at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=register.sh
# shellcheck source=deploy/bench/lib.sh
. "$ROOT/deploy/bench/lib.sh"
ACCOUNTS=${ACCOUNTS:-10000}
USERS=${USERS:-10}
CALLS=${CALLS:-50000}
RATE=${RATE:-20000}
RATE_PERIOD_MS=${RATE_PERIOD_MS:-1000}
LIMIT=${LIMIT:-200}
DURATION=${DURATION:-180}
TARGETS=${TARGETS:-centrala-memory centrala-redis kamailio kamailio-htable}
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-4}
KEEP=${KEEP:-0}
SCENARIO=$ROOT/deploy/sipp/register_digest.xml
KAMAILIO_CFG=$ROOT/deploy/bench/kamailio.cfg
# SIPp's socket buffers (-buff_size): the kernel caps them at net.core.rmem_max/wmem_max
SIPP_BUFF=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 212992)

needs=(sipp=sip-tester curl=curl)
for t in $TARGETS; do
	case $t in
	centrala-memory) ;;
	centrala-redis) needs+=(redis-server=redis-server) ;;
	kamailio | kamailio-htable) needs+=(kamailio=kamailio) ;;
	*) die "unknown target $t" ;;
	esac
done
"$ROOT/deploy/test-deps.sh" "${needs[@]}"
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)

bench_workdir centrala-bench

# udp_socket_drops PORT: datagrams dropped so far at the UDP sockets bound to PORT (the
# "drops" column of /proc/net/udp).
udp_socket_drops() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { d += $NF } END { print d + 0 }' \
		/proc/net/udp /proc/net/udp6 2>/dev/null
}

# tree_pids PID: PID and all its descendants.
tree_pids() {
	local f line rest
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		rest=${line##*) }
		set -- $rest
		echo "${f//[^0-9]/} $2"
	done | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			print root
			n = 1; list[1] = root
			for (i = 1; i <= n; i++)
				for (p in parent)
					if (parent[p] == list[i]) { list[++n] = p; print p }
		}'
}

# tree_cpu_ticks PID: utime+stime of PID and its descendants, in clock ticks.
tree_cpu_ticks() { cpu_ticks $(tree_pids "$1"); }

# tree_mem_kb PID: "RSS PSS" in kB, summed over PID and its descendants.
tree_mem_kb() {
	local p
	for p in $(tree_pids "$1"); do
		cat "/proc/$p/smaps_rollup" 2>/dev/null || true
	done | awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { s += $2 } END { printf "%d %d\n", r, s }'
}

wait_udp() { # wait_udp PORT PID NAME LOG
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$2" 2>/dev/null || { tail -20 "$4" >&2; die "$3 exited while starting"; }
		port_bound udp "$1" && return 0
		sleep 0.1
	done
	tail -20 "$4" >&2
	die "$3 did not bind udp port $1"
}

# ---------------------------------------------------------------- accounts
ACCOUNTS_CSV=$WORK/accounts.csv
SALT=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
{
	echo SEQUENTIAL
	for ((i = 1; i <= ACCOUNTS; i++)); do
		printf 'bench%05d;pw-%s-%05d\n' "$i" "$SALT" "$i"
	done
} >"$ACCOUNTS_CSV"

# ---------------------------------------------------------------- one SIPp run
# run_sipp NAME PORT: runs the scenario against 127.0.0.1:PORT; sets SIPP_OK, SIPP_FAILED,
# SIPP_RETRANS, SIPP_SECONDS, SIPP_CPU (seconds of SIPp's own CPU).
run_sipp() {
	local name=$1 port=$2 dir=$WORK/$1/sipp sport t0 t1 times stats counts
	mkdir -p "$dir"
	sport=$(free_port)
	local maxsock
	maxsock=$(($(ulimit -n) - 128))
	((maxsock > 50000)) && maxsock=50000
	local drops0
	drops0=$(udp_rcvbuf_errors)
	t0=$(date +%s.%N)
	(
		cd "$dir"
		TIMEFORMAT='%U %S'
		{ time sipp -sf "$SCENARIO" -inf "$ACCOUNTS_CSV" -t u1 \
			-i 127.0.0.1 -p "$sport" -bind_local -nostdin -max_socket "$maxsock" -buff_size "$SIPP_BUFF" \
			-m "$CALLS" -r "$RATE" -rp "$RATE_PERIOD_MS" -l "$LIMIT" \
			-timeout "${DURATION}s" -recv_timeout 10000 \
			-trace_stat -stf stats.csv -fd 5 -trace_counts \
			-trace_err -error_file errors.log \
			"127.0.0.1:$port" >screen.log 2>sipp.err; } 2>time.txt
	) || true
	t1=$(date +%s.%N)
	SIPP_DROPS=$(($(udp_rcvbuf_errors) - drops0))
	stats=$dir/stats.csv
	[[ -s $stats ]] || { cat "$dir/sipp.err" >&2; die "$name: SIPp wrote no statistics"; }
	# final row: cumulative counters by column name
	read -r SIPP_OK SIPP_FAILED SIPP_RETRANS < <(awk -F';' '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		NF > 10 { last = $0 }
		END {
			n = split(last, f, ";")
			print f[col["SuccessfulCall(C)"]] + 0, f[col["FailedCall(C)"]] + 0, f[col["Retransmissions(C)"]] + 0
		}' "$stats")
	# elapsed time with milliseconds from the counts file (ElapsedTime hh:mm:ss:usec)
	counts=$(ls "$dir"/*_counts.csv 2>/dev/null | head -1 || true)
	SIPP_SECONDS=""
	if [[ -n $counts ]]; then
		SIPP_SECONDS=$(awk -F';' 'NR > 1 && NF > 2 { e = $2 } END {
			split(e, t, ":"); if (length(t) == 4) printf "%.3f", t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1e6 }' "$counts")
	fi
	[[ -n $SIPP_SECONDS && $SIPP_SECONDS != 0.000 ]] || SIPP_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	times=$(tail -1 "$dir/time.txt" 2>/dev/null || echo "0 0")
	SIPP_CPU=$(awk -v t="$times" 'BEGIN { split(t, x, " "); printf "%.2f", x[1] + x[2] }')
}

# measure NAME PID PORT [EXTRA_PID]: one warm-up REGISTER, then the load; appends a row.
ROWS=()
measure() {
	local name=$1 pid=$2 port=$3 extra=${4:-} c0 c1 m0 m1 e0=0 e1=0 em0="0 0" em1="0 0"
	# warm-up and check: one account, one call
	local check=$WORK/$name/check
	mkdir -p "$check"
	head -2 "$ACCOUNTS_CSV" >"$check/one.csv"
	if ! (cd "$check" && sipp -sf "$SCENARIO" -inf one.csv -t u1 -i 127.0.0.1 -p "$(free_port)" -bind_local \
		-nostdin -max_socket 100 -m 1 -timeout 20s -recv_timeout 5000 -trace_err -error_file errors.log \
		-trace_msg -message_file messages.log "127.0.0.1:$port" >screen.log 2>sipp.err); then
		log "$name: the check REGISTER failed (see below); skipping"
		tail -5 "$check/sipp.err" >&2 || true
		grep -E '^SIP/2.0 |^WWW-Authenticate' "$check/messages.log" >&2 || true
		if grep -q 'must use MD5' "$check/sipp.err" 2>/dev/null; then
			log "$name: SIPp $(sipp -v 2>&1 | awk '/SIPp v/ { print $2; exit }') answers only the first WWW-Authenticate and only MD5;" \
				"the server offered another algorithm first (see deploy/sipp/README.md)"
		fi
		ROWS+=("$name|check failed|-|-|-|-|-|-|-")
		return 0
	fi

	local sd0 sd1
	sd0=$(udp_socket_drops "$port")
	c0=$(tree_cpu_ticks "$pid")
	m0=$(tree_mem_kb "$pid")
	if [[ -n $extra ]]; then e0=$(tree_cpu_ticks "$extra"); em0=$(tree_mem_kb "$extra"); fi
	log "$name: $CALLS calls offered at $RATE/${RATE_PERIOD_MS}ms, $ACCOUNTS accounts"
	run_sipp "$name" "$port"
	c1=$(tree_cpu_ticks "$pid")
	m1=$(tree_mem_kb "$pid")
	sd1=$(udp_socket_drops "$port")
	if [[ -n $extra ]]; then e1=$(tree_cpu_ticks "$extra"); em1=$(tree_mem_kb "$extra"); fi
	kill -0 "$pid" 2>/dev/null || die "$name: the server died during the run"

	ROWS+=("$(awk -v n="$name" -v ok="$SIPP_OK" -v failed="$SIPP_FAILED" -v rt="$SIPP_RETRANS" \
		-v s="$SIPP_SECONDS" -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v m0="$m0" -v m1="$m1" \
		-v e="$((e1 - e0))" -v em0="$em0" -v em1="$em1" -v acc="$ACCOUNTS" -v scpu="$SIPP_CPU" \
		-v drops="$SIPP_DROPS" -v sdrops="$((sd1 - sd0))" 'BEGIN {
		split(m0, a, " "); split(m1, b, " "); split(em0, x, " "); split(em1, y, " ")
		rate = (s > 0) ? ok / s : 0
		cpu = (ok > 0) ? c / hz / ok * 1000 : 0
		per = (b[2] - a[2]) * 1024 / acc
		line = sprintf("%s|%.0f|%.3f|%d|%d|%.1f/%.1f|%.1f/%.1f|%.0f|%.1fs, sipp cpu %ss", n, rate, cpu, ok, failed + 0,
			a[1] / 1024, b[1] / 1024, a[2] / 1024, b[2] / 1024, per, s, scpu)
		if (e > 0 || y[2] > 0)
			line = line sprintf(", redis-server: %.3f ms cpu/REGISTER, %.0f B/registration", (ok > 0 ? e / hz / ok * 1000 : 0), (y[2] - x[2]) * 1024 / acc)
		if (rt > 0) line = line sprintf(", %d retransmissions", rt)
		if (drops > 0) line = line sprintf(", %d UDP datagrams dropped for a full receive buffer (%d at the server socket)", drops, sdrops)
		print line
	}')")
	log "$name: ${ROWS[-1]}"
}

# ---------------------------------------------------------------- Centrala
CENTRALA_BIN=${CENTRALA_BIN:-}
create_centrala_accounts() { # create_centrala_accounts DIR
	local dir=$1 u id body per first last i
	per=$(((ACCOUNTS + USERS - 1) / USERS))
	: >"$dir/jobs"
	for ((u = 1; u <= USERS; u++)); do
		body=$(printf '{"login":"bench-%02d","password":"bench-user-pw-%s-%02d","role":"agent","first_name":"Bench","last_name":"User %02d","extension":"%d"}' \
			"$u" "$SALT" "$u" "$u" $((7000 + u)))
		id=$(api POST /api/v1/users "$body" | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}]*\).*/\1/p' | head -1) ||
			die "creating user $u failed"
		[[ -n $id ]] || die "creating user $u: no id in the answer"
		first=$(((u - 1) * per + 1))
		last=$((u * per))
		((last > ACCOUNTS)) && last=$ACCOUNTS
		for ((i = first; i <= last; i++)); do
			printf '%s bench%05d pw-%s-%05d\n' "$id" "$i" "$SALT" "$i"
		done >>"$dir/jobs"
	done
	export TOKEN HTTP_PORT
	# one curl per account, 8 at a time; prints the HTTP status of each
	xargs -P 8 -L 1 bash -c 'curl -sS -o /dev/null -w "%{http_code}\n" -X POST \
		-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
		--data "{\"username\":\"$1\",\"password\":\"$2\"}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/users/$0/sip-accounts"' <"$dir/jobs" >"$dir/created.txt"
	local ok
	ok=$(grep -c '^201$' "$dir/created.txt" || true)
	[[ $ok == "$ACCOUNTS" ]] || die "created $ok of $ACCOUNTS SIP accounts: $(sort "$dir/created.txt" | uniq -c | tr '\n' ' ')"
}

# run_centrala NAME DIR SIP_PORT ENV...: starts the server, waits for /healthz and its SIP
# port; sets CENTRALA_PID.
run_centrala() {
	local name=$1 dir=$2 sip_port=$3 pid i
	shift 3
	env "$@" "$CENTRALA_BIN" >>"$dir/centrala.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/centrala.log" >&2; die "$name: centrala exited"; }
		curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/healthz" || die "$name: /healthz never answered 200"
	wait_udp "$sip_port" "$pid" "$name" "$dir/centrala.log"
	CENTRALA_PID=$pid
}

bench_centrala() { # bench_centrala NAME [redis]
	local name=$1 mode=${2:-memory} dir=$WORK/$1 sip_port redis_pid="" redis_port pid i
	mkdir -p "$dir/data"
	build_centrala
	sip_port=$(free_port)
	HTTP_PORT=$(free_port)
	TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	local env=(CENTRALA_DATA_DIR="$dir/data" CENTRALA_SIP_ADDR="127.0.0.1:$sip_port"
		CENTRALA_HTTP_ADDR="127.0.0.1:$HTTP_PORT" CENTRALA_ADMIN_TOKEN="$TOKEN" CENTRALA_LOG_LEVEL=warn)
	if [[ $mode == redis ]]; then
		start_redis "$dir"
		redis_port=$REDIS_PORT redis_pid=$REDIS_PID
		env+=(CENTRALA_REDIS_URL="redis://127.0.0.1:$redis_port/0")
	fi
	# shellcheck disable=SC2206
	env+=(${CENTRALA_EXTRA_ENV:-})
	run_centrala "$name" "$dir" "$sip_port" "${env[@]}"
	pid=$CENTRALA_PID
	log "$name: creating $USERS users and $ACCOUNTS SIP accounts through the API"
	create_centrala_accounts "$dir"
	# Start again on the same data: creating users hashes passwords with argon2id, whose
	# memory the Go runtime returns to the system only slowly; the "before" figure is of a
	# server that has just started with the accounts in its database.
	stop_pid "$pid"
	run_centrala "$name" "$dir" "$sip_port" "${env[@]}"
	pid=$CENTRALA_PID
	measure "$name" "$pid" "$sip_port" "$redis_pid"
	stop_pid "$pid"
	[[ -n $redis_pid ]] && stop_pid "$redis_pid"
	return 0
}

# ---------------------------------------------------------------- Kamailio
bench_kamailio() { # bench_kamailio NAME [htable]
	local name=$1 mode=${2:-db} dir=$WORK/$1 port pid i
	mkdir -p "$dir/db"
	# db_text tables: the same user/password pairs as accounts.csv
	printf 'id(int,auto) table_name(string) table_version(int) \n0:version:1\n1:subscriber:7\n2:htable:2\n' >"$dir/db/version"
	{
		echo 'id(int,auto) username(string) domain(string,null) password(string) ha1(string,null) ha1b(string,null) '
		awk -F';' 'NR > 1 { printf "%d:%s:centrala:%s:::\n", NR - 1, $1, $2 }' "$ACCOUNTS_CSV"
	} >"$dir/db/subscriber"
	{
		echo 'id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) '
		awk -F';' 'NR > 1 { printf "%d:%s:0:0:%s:0\n", NR - 1, $1, $2 }' "$ACCOUNTS_CSV"
	} >"$dir/db/htable"
	port=$(free_port)
	local defs=(-A "DBURL=\"text://$dir/db\"")
	[[ $mode == htable ]] && defs+=(-A WITH_HTABLE)
	"$KAMAILIO" -f "$KAMAILIO_CFG" -c "${defs[@]}" >"$dir/check.log" 2>&1 ||
		{ tail -20 "$dir/check.log" >&2; die "$name: kamailio -c rejects the configuration"; }
	"$KAMAILIO" -DD -E -f "$KAMAILIO_CFG" "${defs[@]}" \
		-l "udp:127.0.0.1:$port" -l "tcp:127.0.0.1:$port" -n "$KAMAILIO_CHILDREN" \
		-m 256 -M 16 -Y "$dir" -w "$dir" >"$dir/kamailio.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_udp "$port" "$pid" "$name" "$dir/kamailio.log"
	sleep 0.5 # workers up
	measure "$name" "$pid" "$port"
	stop_pid "$pid"
	return 0
}

# ---------------------------------------------------------------- run
log "work directory $WORK; $ACCOUNTS accounts, $CALLS calls per implementation"
for t in $TARGETS; do
	case $t in
	centrala-memory) bench_centrala "$t" memory ;;
	centrala-redis) bench_centrala "$t" redis ;;
	kamailio) bench_kamailio "$t" db ;;
	kamailio-htable) bench_kamailio "$t" htable ;;
	esac
done

# ---------------------------------------------------------------- table
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "REGISTER with digest (REGISTER -> 401 -> REGISTER -> 200), SIPp $(sipp -v 2>&1 | awk '/SIPp v/ { sub(/\.$/, "", $2); print $2; exit }'), UDP, $ACCOUNTS accounts, $CALLS calls offered at $RATE per ${RATE_PERIOD_MS} ms (at most $LIMIT at once)"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; kamailio $("$KAMAILIO" -v 2>/dev/null | awk '/^version:/ { print $3; exit }') with $KAMAILIO_CHILDREN workers"
echo
printf '%-16s %10s %14s %8s %7s %17s %17s %10s  %s\n' implementation REGISTER/s "CPU ms/REG" ok failed "RSS MiB bef/aft" "PSS MiB bef/aft" "B/reg" notes
for r in "${ROWS[@]}"; do
	IFS='|' read -r n rate cpu ok failed rss pss per notes <<<"$r"
	printf '%-16s %10s %14s %8s %7s %17s %17s %10s  %s\n' "$n" "$rate" "$cpu" "$ok" "$failed" "$rss" "$pss" "$per" "$notes"
done
echo
# ratios Centrala / Kamailio
for c in "${ROWS[@]}"; do
	IFS='|' read -r cn crate ccpu _ _ _ _ cper _ <<<"$c"
	[[ $cn == centrala-* && $crate =~ ^[0-9] ]] || continue
	for k in "${ROWS[@]}"; do
		IFS='|' read -r kn krate kcpu _ _ _ _ kper _ <<<"$k"
		[[ $kn == kamailio* && $krate =~ ^[0-9] ]] || continue
		awk -v cn="$cn" -v kn="$kn" -v cr="$crate" -v kr="$krate" -v cc="$ccpu" -v kc="$kcpu" -v cp="$cper" -v kp="$kper" 'BEGIN {
			printf "%s / %s: REGISTER/s x%.2f, CPU per REGISTER x%.2f, bytes per registration x%s\n", cn, kn,
				(kr > 0 ? cr / kr : 0), (kc > 0 ? cc / kc : 0), (kp > 0 ? sprintf("%.2f", cp / kp) : "n/a")
		}'
	done
done
