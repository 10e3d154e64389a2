#!/usr/bin/env bash
# Whole-server benchmark of call queues, with SIPp and a redis-server on this machine:
# queue calls answered by agents per second, with the shared ACD state in Redis.
#
# Through the API: AGENTS users (is_agent, extensions 7001...) with one SIP account each,
# a queue (STRATEGY, wrap-up 0, retry delay 0) with them as members, an ip trunk for
# 127.0.0.1 and the number +48221234567 leading to the queue. Every agent account is
# registered (deploy/sipp/register_digest.xml) from the port of one SIPp UAS
# (deploy/sipp/call_uas_hangup.xml), which answers each offer at once and hangs up HOLD_MS
# after its answer; the agents are logged in with PUT /api/v1/agents/{id}/state. Then for
# each rate of RATE, SIPp callers (deploy/sipp/call_uac.xml, no credentials: from the
# trunk's address) call the number at that rate for STEP_SECONDS; Centrala answers each
# caller at once (music on hold), the dispatcher offers it to an agent, the agent's 200
# connects them, and the agent hangs up after HOLD_MS (a caller still waiting after
# CALLER_MAX_MS hangs up: abandoned).
#
# Per rate: queue calls answered by an agent per second, failed and abandoned calls, the
# caller's INVITE-to-200 time (the queue's answer) and its wait for an agent (speed of
# answer, from the call records), Centrala's and redis-server's CPU per call, and from
# /metrics the offers by outcome, the claims won and lost, and the dispatch cycles (count,
# mean time). CPU: utime+stime from /proc/PID/stat before/after.
#
# Usage: deploy/bench/queues.sh
# Settings (environment):
#   AGENTS=100                  agents (users with one SIP account each), queue members
#   RATE="20 50 100"            offered queue calls per second, one step per rate (-r)
#   STEP_SECONDS=20             length of a step: RATE x STEP_SECONDS calls
#   HOLD_MS=1000                talk time: the agent hangs up this long after answering
#   CALLER_MAX_MS=60000         a caller not put through by then hangs up
#   STRATEGY=longest_idle       the queue's strategy (one agent per offer: ring_all would
#                               ring several SIPp agents that all answer at once)
#   DISPATCH_INTERVAL=          queues.dispatch_interval (Centrala's default: 500ms)
#   LIMIT=3000                  calls in flight at most (-l)
#   DURATION=900                seconds a SIPp run may take at most (-timeout)
#   CENTRALA_BIN=path           a built centrala instead of `go build ./cmd/centrala`
#   CENTRALA_EXTRA_ENV="K=V .." more environment for Centrala
#   KEEP=1                      keep the work directory (logs, SIPp statistics and errors)
# Installs sipp, curl and redis-server with deploy/test-deps.sh when missing. Everything
# listens on 127.0.0.1 on free ports; every process started here is stopped by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=queues.sh
# shellcheck source=deploy/bench/lib.sh
. "$ROOT/deploy/bench/lib.sh"
AGENTS=${AGENTS:-100}
RATE=${RATE:-20 50 100}
STEP_SECONDS=${STEP_SECONDS:-20}
HOLD_MS=${HOLD_MS:-1000}
CALLER_MAX_MS=${CALLER_MAX_MS:-60000}
STRATEGY=${STRATEGY:-longest_idle}
DISPATCH_INTERVAL=${DISPATCH_INTERVAL:-}
LIMIT=${LIMIT:-3000}
DURATION=${DURATION:-900}
KEEP=${KEEP:-0}
CENTRALA_BIN=${CENTRALA_BIN:-}
UAC_XML=$ROOT/deploy/sipp/call_uac.xml
UAS_XML=$ROOT/deploy/sipp/call_uas_hangup.xml
REG_XML=$ROOT/deploy/sipp/register_digest.xml
SIPP_BUFF=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 212992)
DID=+48221234567

"$ROOT/deploy/test-deps.sh" sipp=sip-tester curl=curl redis-server=redis-server
bench_workdir centrala-queues

# RTP: 4 ports per call (the caller's relay and the agent's), for LIMIT calls, plus room.
rtp_range $((LIMIT * 4 + 2000))

# ---------------------------------------------------------------- Redis and Centrala
start_redis "$WORK"
RPID=$REDIS_PID

build_centrala
centrala_setup CENTRALA_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
{
	centrala_yaml
	[[ -z $DISPATCH_INTERVAL ]] || printf 'queues:\n  dispatch_interval: %s\n' "$DISPATCH_INTERVAL"
} >"$WORK/centrala.yaml"
METRICS='centrala_queue_|centrala_calls_|centrala_rtp_relays_active |go_goroutines '

log "work directory $WORK; centrala SIP 127.0.0.1:$SIP_PORT, HTTP :$HTTP_PORT, redis :$REDIS_PORT, RTP $RTP_PORT_MIN-$RTP_PORT_MAX"
start_centrala

# ---------------------------------------------------------------- provisioning
log "creating $AGENTS agents (users 7001... with one SIP account each), the trunk, the queue and $DID"
seq 1 "$AGENTS" | awk -v s="$SALT" '{ printf "%d agent%04d pw-%s-%04d\n", 7000 + $1, $1, s, $1 }' >"$WORK/jobs"
export TOKEN HTTP_PORT SALT
# one user and its SIP account per line, 4 at a time; prints "user_id http_status"
xargs -P 4 -L 1 bash -c 'h=(-sS -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
	id=$(curl "${h[@]}" -X POST --data "{\"login\":\"bench-$1\",\"password\":\"bench-user-pw-$SALT\",\"role\":\"agent\",\"first_name\":\"Bench\",\"last_name\":\"$1\",\"extension\":\"$0\",\"is_agent\":true}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/users" | sed -n "s/.*\"id\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1)
	code=$(curl "${h[@]}" -o /dev/null -w "%{http_code}" -X POST --data "{\"username\":\"$1\",\"password\":\"$2\"}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/users/${id:-none}/sip-accounts")
	echo "${id:-none} $code"' <"$WORK/jobs" >"$WORK/created.txt"
ok=$(grep -c ' 201$' "$WORK/created.txt" || true)
[[ $ok == "$AGENTS" ]] || die "created $ok of $AGENTS agents: $(cut -d' ' -f2 "$WORK/created.txt" | sort | uniq -c | tr '\n' ' ')"
AGENT_IDS=$(cut -d' ' -f1 "$WORK/created.txt" | sort -n | tr '\n' ' ')
TRUNK_ID=$(api POST /api/v1/trunks '{"name":"provider","kind":"ip","host":"127.0.0.1","port":5060,"allowed_sources":["127.0.0.1/32"],"number_format":"e164"}' | json_id) ||
	die "creating the trunk failed"
QUEUE_ID=$(api POST /api/v1/queues "{\"name\":\"bench\",\"strategy\":\"$STRATEGY\",\"ring_seconds\":10,\"retry_delay_seconds\":0,\"wrap_up_seconds\":0,\"members\":[$(for id in $AGENT_IDS; do printf '{"user_id":%s},' "$id"; done | sed 's/,$//')]}" | json_id) ||
	die "creating the queue failed"
api POST /api/v1/numbers "{\"number\":\"$DID\",\"trunk_id\":$TRUNK_ID,\"destination\":{\"type\":\"queue\",\"target\":\"$QUEUE_ID\"}}" >/dev/null ||
	die "creating the number failed"
restart_centrala
log "centrala pid $CPID, log $CLOG; queue $QUEUE_ID, trunk $TRUNK_ID"

# ---------------------------------------------------------------- SIPp
sipp_ports

# The agents' accounts, registered from the port the UAS then listens on (their Contact).
awk -v s="$SALT" 'BEGIN { print "SEQUENTIAL" } { printf "agent%04d;pw-%s-%04d\n", $1 - 7000, s, $1 - 7000 }' \
	<(cut -d' ' -f1 "$WORK/jobs") >"$WORK/agents.csv"
log "registering $AGENTS agent accounts from 127.0.0.1:$UAS_PORT"
mkdir -p "$WORK/register"
(cd "$WORK/register" && sipp -sf "$REG_XML" -inf "$WORK/agents.csv" -t u1 -i 127.0.0.1 -p "$UAS_PORT" -bind_local \
	-nostdin -max_socket 100 -m "$AGENTS" -r 200 -l 50 -timeout 60s -recv_timeout 5000 -trace_err -error_file errors.log \
	-trace_stat -stf stats.csv -fd 1 "127.0.0.1:$SIP_PORT" >screen.log 2>sipp.err) || true
read -r ok < <(stats_last "$WORK/register" "SuccessfulCall(C)")
[[ $ok == "$AGENTS" ]] || die "registered $ok of $AGENTS agent accounts (KEEP=1 keeps $WORK/register)"

# The agents: one UAS for every account, on UAS_PORT.
mkdir -p "$WORK/uas"
(
	cd "$WORK/uas"
	exec sipp -sf "$UAS_XML" -t u1 -i 127.0.0.1 -p "$UAS_PORT" -mi 127.0.0.1 -mp "$UAS_MP" -bind_local \
		-nostdin -max_socket "$MAXSOCK" -buff_size "$SIPP_BUFF" -set codec PCMA -set audio none -set hold_ms "$HOLD_MS" \
		-recv_timeout $((CALLER_MAX_MS + 30000)) -trace_stat -stf stats.csv -fd 1 -trace_err -error_file errors.log \
		>screen.log 2>sipp.err
) &
UAS_PID=$!
PIDS+=("$UAS_PID")
for ((i = 0; i < 100; i++)); do
	kill -0 "$UAS_PID" 2>/dev/null || die "the agents' UAS exited while starting: $(cat "$WORK/uas/sipp.err")"
	port_bound udp "$UAS_PORT" && break
	sleep 0.1
done

log "logging $AGENTS agents in"
for id in $AGENT_IDS; do
	api PUT "/api/v1/agents/$id/state" '{"state":"available"}' >/dev/null || die "logging agent $id in failed"
done

# Callers: numbers +48601000001... from the trunk's address, to the queue's number.
CALLS_CSV=$WORK/calls.csv
{
	echo SEQUENTIAL
	for ((i = 1; i <= 10000; i++)); do
		printf '+486010%05d;none;%s\n' "$i" "$DID"
	done
} >"$CALLS_CSV"

# run_uac DIR ARGS...: callers toward Centrala, until SIPp ends; sets UAC_CPU (ticks).
run_uac() {
	local dir=$1 pid
	shift
	mkdir -p "$dir"
	(
		cd "$dir"
		exec sipp -sf "$UAC_XML" -inf "$CALLS_CSV" -t u1 -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$UAC_MP" \
			-bind_local -nostdin -max_socket "$MAXSOCK" -buff_size "$SIPP_BUFF" -set offer 8 -set audio none \
			-set hold_ms "$CALLER_MAX_MS" -recv_timeout $((CALLER_MAX_MS + 30000)) \
			-trace_stat -stf stats.csv -fd 1 -trace_counts -trace_err -error_file errors.log \
			-timeout "${DURATION}s" "$@" "127.0.0.1:$SIP_PORT" >screen.log 2>sipp.err
	) &
	pid=$!
	PIDS+=("$pid")
	wait_child "$pid"
	UAC_CPU=$CHILD_CPU
}

# wait_idle: wait (60 s at most) until Centrala has no call and no caller waits.
wait_idle() {
	local i f=$WORK/idle.prom
	for ((i = 0; i < 600; i++)); do
		metrics "$f"
		[[ $(mval "$f" centrala_calls_active) == 0 && $(mval "$f" "centrala_queue_waiting_callers{queue_id=\"$QUEUE_ID\"}") == 0 ]] && return 0
		sleep 0.1
	done
	return 1
}

# waits FROM TO: the wait_ms of the queue stays answered in the records started between
# FROM and TO (RFC 3339), one per line.
waits() {
	local off=0 page n
	while :; do
		page=$(curl -fsS -H "Authorization: Bearer $TOKEN" -G "http://127.0.0.1:$HTTP_PORT/api/v1/cdrs" \
			--data-urlencode "from=$1" --data-urlencode "to=$2" --data-urlencode "limit=1000" --data-urlencode "offset=$off") ||
			die "GET /api/v1/cdrs failed"
		n=$({ grep -o '"id":[0-9]*,"started_at"' <<<"$page" || true; } | wc -l)
		{ grep -o '"wait_ms":[0-9]*,"exit":"answered"' <<<"$page" || true; } | sed 's/[^0-9]*\([0-9]*\).*/\1/'
		((n < 1000)) && break
		off=$((off + 1000))
	done
}

log "check: one queue call"
run_uac "$WORK/check" -m 1 -timeout 30s -set hold_ms 3000 -trace_msg -message_file messages.log
read -r ok < <(stats_last "$WORK/check" "SuccessfulCall(C)")
if [[ $ok != 1 ]]; then
	grep -E '^SIP/2.0 |^(INVITE|ACK|BYE) ' "$WORK/check/messages.log" >&2 || true
	tail -20 "$CLOG" >&2
	die "the check call failed (KEEP=1 keeps $WORK/check)"
fi
wait_idle || log "warning: after the check call Centrala still has calls"
metrics "$WORK/check.prom"
[[ $(mval "$WORK/check.prom" "centrala_queue_calls_total{exit=\"answered\",queue_id=\"$QUEUE_ID\"}") == 1 ]] ||
	die "the check call was not answered by an agent: $(grep queue_calls_total "$WORK/check.prom" | tr '\n' ' ')"

# ---------------------------------------------------------------- steps
ROWS=()
for rate in $RATE; do
	calls=$((rate * STEP_SECONDS))
	dir=$WORK/rate-$rate
	mkdir -p "$dir"
	wait_idle || log "warning: Centrala not idle before the $rate/s step"
	metrics "$dir/before.prom"
	l0=$(log_size)
	c0=$(cpu_ticks "$CPID")
	r0=$(cpu_ticks "$RPID")
	s0=$(cpu_ticks "$UAS_PID")
	from=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	log "rate $rate/s: $calls calls to the queue, $AGENTS agents, talk ${HOLD_MS} ms"
	run_uac "$dir/uac" -m "$calls" -r "$rate" -rp 1000 -l "$LIMIT"
	idle=yes
	wait_idle || idle="NO ($(mval "$WORK/idle.prom" centrala_calls_active) calls left)"
	c1=$(cpu_ticks "$CPID")
	r1=$(cpu_ticks "$RPID")
	s1=$(cpu_ticks "$UAS_PID")
	to=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	metrics "$dir/after.prom"
	kill -0 "$CPID" 2>/dev/null || die "centrala died during the run (see $CLOG)"
	read -r ok failed rt < <(stats_last "$dir/uac" "SuccessfulCall(C)" "FailedCall(C)" "ResponseTimesetup(C)")
	elapsed=$(sipp_elapsed "$dir/uac")
	fails=$(failures "$dir/uac")
	lines=$(log_summary "$l0")
	waits "$from" "$to" | sort -n >"$dir/waits.txt"
	ROWS+=("$(awk -v rate="$rate" -v calls="$calls" -v ok="$ok" -v failed="$failed" -v el="${elapsed:-0}" -v hold="$HOLD_MS" \
		-v c="$((c1 - c0))" -v r="$((r1 - r0))" -v sipp="$((UAC_CPU + s1 - s0))" -v hz="$CLK_TCK" -v rtime="$rt" \
		-v q="$QUEUE_ID" -v before="$dir/before.prom" -v after="$dir/after.prom" -v waits="$dir/waits.txt" \
		-v fails="$fails" -v idle="$idle" '
		function load(f, arr,   line, k) { while ((getline line < f) > 0) { split(line, k, " "); arr[k[1]] = k[2] } close(f) }
		function d(k) { return A[k] - B[k] }
		BEGIN {
			load(before, B); load(after, A)
			n = 0; while ((getline w < waits) > 0) W[++n] = w + 0; close(waits)
			p50 = n ? W[int(0.50 * (n - 1)) + 1] : 0; p90 = n ? W[int(0.90 * (n - 1)) + 1] : 0
			p99 = n ? W[int(0.99 * (n - 1)) + 1] : 0; mx = n ? W[n] : 0
			ans = d("centrala_queue_calls_total{exit=\"answered\",queue_id=\"" q "\"}")
			aband = d("centrala_queue_calls_total{exit=\"abandoned\",queue_id=\"" q "\"}")
			offers = ""
			for (k in A) if (k ~ /^centrala_queue_offers_total/ && d(k) > 0) { o = k; sub(/.*outcome="/, "", o); sub(/".*/, "", o); offers = offers sprintf("%s %d, ", o, d(k)) }
			won = d("centrala_queue_claims_total{result=\"won\"}"); lost = d("centrala_queue_claims_total{result=\"lost\"}")
			cyc = d("centrala_queue_dispatch_seconds_count"); cs = d("centrala_queue_dispatch_seconds_sum")
			split(rtime, t, ":"); setup_ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 + t[4] / 1000
			busy = el - hold / 1000; if (busy <= 0) busy = el
			line = sprintf("%d|%d|%.1f|%d|%d|%d|%.1f|%d/%d/%d/%d|%.2f|%.2f|%d/%d|%d|%.2f|%.0f%%",
				rate, calls, ans / busy, ans, failed, aband, setup_ms, p50, p90, p99, mx,
				(ans > 0 ? c / hz / ans * 1000 : 0), (ans > 0 ? r / hz / ans * 1000 : 0), won, lost,
				cyc, (cyc > 0 ? cs / cyc * 1000 : 0), c / hz / el * 100)
			notes = sprintf("%.1fs, SIPp ok %d, %d stays with a wait in the records, Centrala %.0f%% + redis %.0f%% + SIPp %.0f%% of a core", el, ok, n, c / hz / el * 100, r / hz / el * 100, sipp / hz / el * 100)
			if (offers != "") notes = notes ", offers: " substr(offers, 1, length(offers) - 2)
			if (fails != "") notes = notes ", " fails
			if (idle != "yes") notes = notes ", idle afterwards: " idle
			print line "|" notes }')")
	[[ -n $lines ]] && ROWS[-1]+=", centrala log: $lines"
	log "rate $rate/s: ${ROWS[-1]}"
done

# ---------------------------------------------------------------- report
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "Queue calls through Centrala with Redis ($(redis-server --version | awk '{ sub(/^v=/, "", $3); print $3 }')), SIPp $(sipp -v 2>&1 | awk '/SIPp v/ { sub(/\.$/, "", $2); print $2; exit }'), UDP:" \
	"callers from an ip trunk -> $DID -> queue ($STRATEGY, wrap-up 0) of $AGENTS agents (one SIPp UAS), talk ${HOLD_MS} ms"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; load average before the report: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%6s %6s %6s %6s %6s %6s %8s %22s %9s %9s %11s %7s %8s %6s  %s\n' offered calls "ans/s" answered failed abandon "setup ms" "wait ms p50/p90/p99/max" \
	"CPU ms/c" "redis ms" "claims w/l" cycles "cycle ms" CPU notes
for r in "${ROWS[@]}"; do
	IFS='|' read -r rate calls aps ans failed ab sms w cpu rcpu cl cyc cms pct notes <<<"$r"
	printf '%6s %6s %6s %6s %6s %6s %8s %22s %9s %9s %11s %7s %8s %6s  %s\n' "$rate" "$calls" "$aps" "$ans" "$failed" "$ab" "$sms" "$w" "$cpu" "$rcpu" "$cl" "$cyc" "$cms" "$pct" "$notes"
done
errs=$(grep -c -E 'level=(ERROR|WARN)' "$CLOG" || true)
if ((errs > 0)); then
	echo "centrala log: $errs warnings/errors, by message:"
	log_summary 0 | tr ';' '\n' | sed -e 's/^ *//' -e '/^$/d' | sort -rn | head -20 | sed 's/^/  /'
fi
