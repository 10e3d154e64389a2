#!/usr/bin/env bash
# Whole-server benchmark of calls through Centrala's B2BUA, with SIPp on this machine:
#
#   setup       call set-ups per second: deploy/sipp/call_uac.xml (INVITE -> 407 -> INVITE
#               with credentials -> 180 -> 200 -> ACK -> SETUP_HOLD_MS -> BYE) offered at
#               each rate of RATE in turn, to extension 7002, whose one SIP account is
#               registered by a SIPp UAS (deploy/sipp/call_uas.xml, answers at once).
#               Per rate: successful calls/s, failed calls, set-up time, Centrala CPU per call.
#   concurrent  N calls up at once with G.711 RTP both ways through Centrala's relays, for
#               each N of CONCURRENT, placed at RAMP calls/s. CONC_MEDIA=stream (default):
#               caller and callee both send A-law with SIPp's RTPSTREAM (20 ms packets, the
#               audio of g711a.pcap looped); CONC_MEDIA=pcap-echo: the caller replays
#               g711a.pcap every 7 s (a thread and a raw socket per call), the callee echoes
#               (-rtp_echo). Copies of call_uac.xml / call_uas.xml are made for this in the
#               work directory. Per N: Centrala CPU% while the N calls are up, memory per
#               call, RTP packets relayed per second by direction, lost and dropped packets
#               (from /metrics and /proc/net/udp).
#
# The callee is registered with deploy/sipp/register_digest.xml from the local port the UAS
# then listens on (the binding's Contact). Calls are placed by CALLERS users (extensions
# 10001...) with one SIP account each, in turn, to one user (7002) with one SIP account.
# Centrala's configuration (CENTRALA_CONFIG): calls.max_calls_per_user raised,
# registrar.digest_algorithms [MD5] (SIPp 3.6 answers only MD5), media sockets on 127.0.0.1
# in a port range chosen here. CPU: utime+stime from /proc/PID/stat
# before/after; memory: /proc/PID/smaps_rollup.
#
# Usage: deploy/bench/calls.sh
# Settings (environment):
#   PHASES="concurrent setup"   which measurements, in this order
#   RATE="100 200 300 400"      offered call set-ups per second, one step per rate (-r)
#   CALLS=                      calls per rate step (-m); default RATE x STEP_SECONDS
#   STEP_SECONDS=20             length of a rate step when CALLS is not given
#   LIMIT=4000                  calls in flight at most in a rate step (-l)
#   SETUP_HOLD_MS=1000          talk time of a set-up call (ACK to BYE)
#   SETUP_AUDIO=none            none; g711a: the caller plays the pcap during it; stream:
#                               both sides send G.711 (RTPSTREAM, as CONC_MEDIA=stream)
#   CONCURRENT="500 1000 2000"  calls up at once, one step per value
#   CONC_MEDIA=stream           stream or pcap-echo (see above)
#   RAMP=100                    calls per second placed to bring the N calls up
#   SETTLE=5 WINDOW=20          seconds to wait once N relays are up, then to measure
#   HOLD=                       talk time of a concurrent call in seconds; default
#                               1.5 N/RAMP + SETTLE + WINDOW + 20
#   CALLERS=100                 callers: users with one SIP account each (used in turn)
#   DURATION=900                seconds a SIPp run may take at most (-timeout)
#   RTP_PORT_MIN=               first RTP port for Centrala (default: chosen free, 20000+)
#   CENTRALA_BIN=path           a built centrala instead of `go build ./cmd/centrala`
#   CENTRALA_EXTRA_ENV="K=V .." more environment for Centrala
#   RESTART=1                   a new Centrala process (same database) for each step; 0: one
#                               process for the whole run
#   LINGER=40                   seconds to wait at the end for goroutines to go back to the start's
#   KEEP=1                      keep the work directory (logs, SIPp statistics and errors)
# Installs sipp and curl with deploy/test-deps.sh when missing. Everything listens on
# 127.0.0.1 on free ports; every process started here is stopped by its PID at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=calls.sh
# shellcheck source=deploy/bench/lib.sh
. "$ROOT/deploy/bench/lib.sh"
PHASES=${PHASES:-concurrent setup}
RATE=${RATE:-100 200 300 400}
CALLS=${CALLS:-}
STEP_SECONDS=${STEP_SECONDS:-20}
LIMIT=${LIMIT:-4000}
SETUP_HOLD_MS=${SETUP_HOLD_MS:-1000}
SETUP_AUDIO=${SETUP_AUDIO:-none}
CONCURRENT=${CONCURRENT:-500 1000 2000}
CONC_MEDIA=${CONC_MEDIA:-stream}
RAMP=${RAMP:-100}
SETTLE=${SETTLE:-5}
WINDOW=${WINDOW:-20}
HOLD=${HOLD:-}
CALLERS=${CALLERS:-100}
DURATION=${DURATION:-900}
RTP_PORT_MIN=${RTP_PORT_MIN:-}
KEEP=${KEEP:-0}
RESTART=${RESTART:-1}
CENTRALA_BIN=${CENTRALA_BIN:-}
UAC_XML=$ROOT/deploy/sipp/call_uac.xml
UAS_XML=$ROOT/deploy/sipp/call_uas.xml
REG_XML=$ROOT/deploy/sipp/register_digest.xml
PCAP=/usr/share/sip-tester/g711a.pcap
SIPP_BUFF=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 212992)
CALLEE_EXT=7002

for p in $PHASES; do
	[[ $p == setup || $p == concurrent ]] || die "unknown phase $p (want setup, concurrent)"
done
[[ $SETUP_AUDIO == none || $SETUP_AUDIO == g711a || $SETUP_AUDIO == stream ]] || die "SETUP_AUDIO=$SETUP_AUDIO: want none, g711a or stream"
[[ $CONC_MEDIA == stream || $CONC_MEDIA == pcap-echo ]] || die "CONC_MEDIA=$CONC_MEDIA: want stream or pcap-echo"

"$ROOT/deploy/test-deps.sh" sipp=sip-tester curl=curl
[[ -r $PCAP ]] || die "$PCAP missing (package sip-tester)"

bench_workdir centrala-calls

# ---------------------------------------------------------------- ports
# The RTP range: 4 ports per call (two even ports per relay), for the largest N or LIMIT, plus
# room: running out of ports (503) is not what the benchmark looks for.
max_n=0
for n in $CONCURRENT; do ((n > max_n)) && max_n=$n; done
((LIMIT > max_n)) && max_n=$LIMIT # calls in flight in a rate step
RTP_SPAN=$((max_n * 4 + 2000))
rtp_range "$RTP_SPAN"

# rtp_socket_drops: datagrams the kernel dropped at the UDP sockets now open in the RTP
# range (Centrala's relays; the "drops" column of /proc/net/udp).
rtp_socket_drops() {
	awk -v lo="$RTP_PORT_MIN" -v hi="$RTP_PORT_MAX" "$AWK_HEX"'FNR > 1 { split($2, a, ":"); p = hex(a[2])
		if (p >= lo && p <= hi) d += $NF } END { print d + 0 }' /proc/net/udp /proc/net/udp6 2>/dev/null
}

# udp_port_drops PORT: datagrams dropped so far at the UDP sockets bound to PORT.
udp_port_drops() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { d += $NF } END { print d + 0 }' \
		/proc/net/udp /proc/net/udp6 2>/dev/null
}

# ---------------------------------------------------------------- Centrala
build_centrala
centrala_setup
{
	centrala_yaml
	printf 'calls:\n  max_calls_per_user: 1000000\n'
} >"$WORK/centrala.yaml"
METRICS='centrala_rtp_|centrala_calls_|centrala_sip_dropped_total|go_goroutines |go_memstats_(heap_inuse_bytes|next_gc_bytes|alloc_bytes_total|mallocs_total) |process_resident_memory_bytes '

log "work directory $WORK; centrala SIP 127.0.0.1:$SIP_PORT, HTTP :$HTTP_PORT, RTP $RTP_PORT_MIN-$RTP_PORT_MAX"
start_centrala
log "creating $CALLERS callers (users 10001... with one SIP account each) and the callee ($CALLEE_EXT, one SIP account)"
CALLEE_ID=$(api POST /api/v1/users "{\"login\":\"bench-callee\",\"password\":\"bench-user-pw-$SALT\",\"role\":\"agent\",\"first_name\":\"Bench\",\"last_name\":\"Callee\",\"extension\":\"$CALLEE_EXT\"}" | json_id) ||
	die "creating the callee failed"
[[ -n $CALLEE_ID ]] || die "no user id in the API's answer"
CALLS_CSV=$WORK/calls.csv
{
	echo SEQUENTIAL
	for ((i = 1; i <= CALLERS; i++)); do
		printf 'caller%04d;pw-%s-%04d;%s\n' "$i" "$SALT" "$i" "$CALLEE_EXT"
	done
} >"$CALLS_CSV"
awk -F';' 'NR > 1 { print NR - 1, $1, $2 }' "$CALLS_CSV" >"$WORK/jobs"
export TOKEN HTTP_PORT SALT
# one user and its SIP account per line, 4 at a time; prints the HTTP status of the account
xargs -P 4 -L 1 bash -c 'h=(-sS -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
	id=$(curl "${h[@]}" -X POST --data "{\"login\":\"bench-$1\",\"password\":\"bench-user-pw-$SALT\",\"role\":\"agent\",\"first_name\":\"Bench\",\"last_name\":\"$1\",\"extension\":\"$((10000 + $0))\"}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/users" | sed -n "s/.*\"id\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\",}]*\).*/\1/p" | head -1)
	curl "${h[@]}" -o /dev/null -w "%{http_code}\n" -X POST --data "{\"username\":\"$1\",\"password\":\"$2\"}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/users/${id:-none}/sip-accounts"' <"$WORK/jobs" >"$WORK/created.txt"
ok=$(grep -c '^201$' "$WORK/created.txt" || true)
[[ $ok == "$CALLERS" ]] || die "created $ok of $CALLERS callers: $(sort "$WORK/created.txt" | uniq -c | tr '\n' ' ')"
printf 'SEQUENTIAL\ncallee;pw-%s-callee\n' "$SALT" >"$WORK/callee.csv"
api POST "/api/v1/users/$CALLEE_ID/sip-accounts" "{\"username\":\"callee\",\"password\":\"pw-$SALT-callee\"}" >/dev/null ||
	die "creating the callee's SIP account failed"
restart_centrala
log "centrala pid $CPID, log $CLOG"

# ---------------------------------------------------------------- SIPp
sipp_ports

# register_callee: the callee's binding, from the port the UAS listens on (its Contact).
register_callee() {
	local dir=$WORK/register
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && sipp -sf "$REG_XML" -inf "$WORK/callee.csv" -t u1 -i 127.0.0.1 -p "$UAS_PORT" -bind_local \
		-nostdin -max_socket 100 -m 1 -timeout 20s -recv_timeout 5000 -trace_err -error_file errors.log \
		-trace_msg -message_file messages.log "127.0.0.1:$SIP_PORT" >screen.log 2>sipp.err) || {
		grep -E '^SIP/2.0 |^WWW-Authenticate' "$dir/messages.log" >&2 || true
		die "registering the callee from 127.0.0.1:$UAS_PORT failed"
	}
}

# fresh_centrala: with RESTART=1, a new Centrala process on the same data (and the callee
# registered again) for each step, so that memory figures start from a fresh process and a
# step's leftovers do not weigh on the next. The calls' records a process leaves open are
# closed by the next one at start (logged).
fresh_centrala() {
	[[ $RESTART == 1 ]] || return 0
	stop_pid "$CPID"
	start_centrala
	register_callee
	log "centrala restarted: pid $CPID"
}

log "registering the callee from 127.0.0.1:$UAS_PORT"
register_callee

# start_uas DIR ARGS...: the callee, on UAS_PORT; sets UAS_PID.
start_uas() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	(
		cd "$dir"
		exec sipp -sf "${UAS_SF:-$UAS_XML}" -t u1 -i 127.0.0.1 -p "$UAS_PORT" -mi 127.0.0.1 -mp "$UAS_MP" -bind_local \
			-nostdin -max_socket "$MAXSOCK" -buff_size "$SIPP_BUFF" -set codec PCMA \
			-trace_stat -stf stats.csv -fd 1 -trace_err -error_file errors.log "$@" >screen.log 2>sipp.err
	) &
	UAS_PID=$!
	PIDS+=("$UAS_PID")
	for ((i = 0; i < 100; i++)); do
		kill -0 "$UAS_PID" 2>/dev/null || {
			cat "$dir/sipp.err" >&2
			die "the UAS exited while starting"
		}
		port_bound udp "$UAS_PORT" && return 0
		sleep 0.1
	done
	die "the UAS did not bind udp $UAS_PORT"
}

# start_uac DIR SCENARIO ARGS...: the caller toward Centrala; sets UAC_PID.
start_uac() {
	local dir=$1 xml=$2
	shift 2
	mkdir -p "$dir"
	(
		cd "$dir"
		exec sipp -sf "$xml" -inf "$CALLS_CSV" -t u1 -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 -mp "$UAC_MP" \
			-bind_local -nostdin -max_socket "$MAXSOCK" -buff_size "$SIPP_BUFF" -set offer 8 \
			-trace_stat -stf stats.csv -fd 1 -trace_counts -trace_err -error_file errors.log \
			-timeout "${DURATION}s" "$@" "127.0.0.1:$SIP_PORT" >screen.log 2>sipp.err
	) &
	UAC_PID=$!
	PIDS+=("$UAC_PID")
}

# wait_idle: wait (30 s at most) until Centrala has no call and no relay left.
wait_idle() {
	local i f=$WORK/idle.prom
	for ((i = 0; i < 300; i++)); do
		metrics "$f"
		[[ $(mval "$f" centrala_rtp_relays_active) == 0 && $(mval "$f" centrala_calls_active) == 0 ]] && return 0
		sleep 0.1
	done
	return 1
}

# check_call: one call end to end before any load, with the messages kept.
check_call() {
	local dir=$WORK/check
	start_uas "$dir/uas" -m 1 -recv_timeout 10000 -set audio none -trace_msg -message_file messages.log
	mkdir -p "$dir/uac"
	if ! (cd "$dir/uac" && sipp -sf "$UAC_XML" -inf "$CALLS_CSV" -t u1 -i 127.0.0.1 -p "$(free_port)" -mi 127.0.0.1 \
		-mp "$UAC_MP" -bind_local -nostdin -max_socket 100 -m 1 -timeout 20s -recv_timeout 10000 \
		-set offer 8 -set hold_ms 300 -set audio none -trace_err -error_file errors.log \
		-trace_msg -message_file messages.log "127.0.0.1:$SIP_PORT" >screen.log 2>sipp.err); then
		grep -E '^SIP/2.0 |^(INVITE|ACK|BYE) ' "$dir/uac/messages.log" >&2 || true
		tail -5 "$dir/uac/errors.log" >&2 2>/dev/null || true
		tail -20 "$CLOG" >&2
		die "the check call failed (KEEP=1 keeps $dir)"
	fi
	stop_pid "$UAS_PID"
	wait_idle || log "warning: after the check call Centrala still has calls or relays"
}

# ---------------------------------------------------------------- phase: set-ups per second
SETUP_ROWS=()
phase_setup() {
	local rate calls dir c0 c1 s0 s1 x uac uac_xml audio t0 t1 ok failed retrans rt elapsed fails lines l0 idle m0 m1
	for rate in $RATE; do
		calls=${CALLS:-$((rate * STEP_SECONDS))}
		dir=$WORK/setup-$rate
		mkdir -p "$dir"
		fresh_centrala
		uac_xml=$UAC_XML audio=$SETUP_AUDIO
		if [[ $SETUP_AUDIO == stream ]]; then
			make_stream_scenarios "$dir" "$ALAW"
			UAS_SF=$dir/uas.xml uac_xml=$dir/uac.xml audio=g711a
			start_uas "$dir/uas" -recv_timeout 30000
		else
			UAS_SF=
			start_uas "$dir/uas" -recv_timeout 30000 -set audio none
		fi
		metrics "$dir/before.prom"
		l0=$(log_size)
		c0=$(cpu_ticks "$CPID")
		s0=$(cpu_ticks "$UAS_PID")
		m0=$(mem_kb "$CPID")
		log "setup: $calls calls offered at $rate/s, hold ${SETUP_HOLD_MS} ms, audio $SETUP_AUDIO"
		t0=$(now)
		start_uac "$dir/uac" "$uac_xml" -m "$calls" -r "$rate" -rp 1000 -l "$LIMIT" -recv_timeout 30000 \
			-set hold_ms "$SETUP_HOLD_MS" -set audio "$audio"
		# SIPp's own CPU: the caller's last reading before it exits, plus the callee's
		wait_child "$UAC_PID"
		uac=$CHILD_CPU
		t1=$(now)
		s1=$(cpu_ticks "$UAS_PID")
		c1=$(cpu_ticks "$CPID")
		m1=$(mem_kb "$CPID")
		idle=yes
		wait_idle || idle="NO ($(mval "$WORK/idle.prom" centrala_calls_active) calls, $(mval "$WORK/idle.prom" centrala_rtp_relays_active) relays left)"
		metrics "$dir/after.prom"
		stop_pid "$UAS_PID" USR1
		kill -0 "$CPID" 2>/dev/null || die "centrala died during the run (see $CLOG)"
		read -r ok failed retrans rt < <(stats_last "$dir/uac" "SuccessfulCall(C)" "FailedCall(C)" "Retransmissions(C)" "ResponseTimesetup(C)")
		elapsed=$(sipp_elapsed "$dir/uac")
		[[ -n $elapsed ]] || elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		fails=$(failures "$dir/uac")
		lines=$(log_summary "$l0")
		SETUP_ROWS+=("$(awk -v rate="$rate" -v calls="$calls" -v ok="$ok" -v failed="$failed" -v rt="$retrans" \
			-v el="$elapsed" -v hold="$SETUP_HOLD_MS" -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v rtime="$rt" \
			-v ans0="$(mval "$dir/before.prom" 'centrala_calls_total{direction="internal",disposition="answered"}')" \
			-v ans1="$(mval "$dir/after.prom" 'centrala_calls_total{direction="internal",disposition="answered"}')" \
			-v m0="$m0" -v m1="$m1" -v fails="$fails" -v idle="$idle" -v sipp="$((uac + s1 - s0))" \
			-v al="$(($(mval "$dir/after.prom" go_memstats_alloc_bytes_total) - $(mval "$dir/before.prom" go_memstats_alloc_bytes_total)))" \
			-v ml="$(($(mval "$dir/after.prom" go_memstats_mallocs_total) - $(mval "$dir/before.prom" go_memstats_mallocs_total)))" \
			-v goal="$(mval "$dir/after.prom" go_memstats_next_gc_bytes)" 'BEGIN {
			split(rtime, t, ":"); setup_ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 + t[4] / 1000
			split(m0, a, " "); split(m1, b, " ")
			busy = el - hold / 1000; if (busy <= 0) busy = el
			line = sprintf("%d|%d|%.0f|%d|%d|%.1f|%.3f|%.0f%%|%.0f%%|%.1f/%.1f|%.1fs, %d answered CDRs",
				rate, calls, ok / busy, ok, failed, setup_ms, (ok > 0 ? c / hz / ok * 1000 : 0),
				c / hz / el * 100, sipp / hz / el * 100, a[2] / 1024, b[2] / 1024, el, ans1 - ans0)
			if (ok > 0) line = line sprintf(", Go allocated %.0f KiB in %.0f objects per call, GC goal %.0f MiB at the end", al / 1024 / ok, ml / ok, goal / 1048576)
			if (rt > 0) line = line sprintf(", %d retransmissions", rt)
			if (fails != "") line = line ", " fails
			if (idle != "yes") line = line ", idle afterwards: " idle
			print line }')")
		[[ -n $lines ]] && SETUP_ROWS[-1]+=", centrala log: $lines"
		log "setup $rate/s: ${SETUP_ROWS[-1]}"
	done
}

# ---------------------------------------------------------------- phase: concurrent calls
# Scenarios of the concurrent phase, copies of call_uac.xml and call_uas.xml made here:
#   stream     both sides send G.711 with SIPp's RTPSTREAM (<exec rtp_stream="file,-1,8"/>:
#              20 ms packets of the pcap's audio, looped until the call ends, from a pool of
#              threads and one UDP socket per call). The A-law file is cut out of g711a.pcap.
#   pcap-echo  the caller plays g711a.pcap again every 7 s (play_pcap_audio: a thread and a
#              raw socket per call, 30 ms packets), the callee echoes (-rtp_echo, one thread).
make_alaw() { # make_alaw OUT: the RTP payloads of g711a.pcap, one after the other
	perl -e '
		open(my $f, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!\n"; local $/; my $d = <$f>;
		my ($magic, $link) = unpack("V x16 V", substr($d, 0, 24));
		die "not a little-endian pcap\n" unless $magic == 0xa1b2c3d4;
		my $l2 = $link == 1 ? 14 : $link == 113 ? 16 : $link == 101 ? 0 : die "pcap link type $link\n";
		for (my $o = 24; $o + 16 <= length $d;) {
			my $len = unpack("V", substr($d, $o + 8, 4));
			my $p = substr($d, $o + 16, $len);
			$o += 16 + $len;
			my $ihl = (ord(substr($p, $l2, 1)) & 15) * 4;
			my $rtp = substr($p, $l2 + $ihl + 8);
			print substr($rtp, 12 + 4 * (ord($rtp) & 15));
		}' "$PCAP" >"$1" || die "cannot cut the audio out of $PCAP"
	[[ -s $1 ]] || die "no audio in $PCAP"
}

make_stream_scenarios() { # make_stream_scenarios DIR ALAW: DIR/uac.xml, DIR/uas.xml
	awk -v f="$2" '
		/play_pcap_audio="[^"]*g711a.pcap"/ && !done { sub(/play_pcap_audio="[^"]*"/, "rtp_stream=\"" f ",-1,8\""); done = 1 }
		{ print }
		END { if (!done) exit 1 }' "$UAC_XML" >"$1/uac.xml" || die "call_uac.xml plays no g711a.pcap"
	awk -v f="$2" '
		/play_pcap_audio="[^"]*g711a.pcap"/ && !done { sub(/play_pcap_audio="[^"]*"/, "rtp_stream=\"" f ",-1,8\""); done = 1 }
		{ print }
		END { if (!done) exit 1 }' "$UAS_XML" >"$1/uas.xml" || die "call_uas.xml plays no g711a.pcap"
}

# make_long_uac OUT PLAYS: the pause after the first playback becomes PLAYS playbacks of 7 s
# (then the rest of hold_ms).
make_long_uac() {
	awk -v plays="$2" -v pcap="$PCAP" '
		/<pause variable="hold" \/>/ && !done {
			for (i = 1; i < plays; i++) {
				print "  <pause milliseconds=\"7000\" />"
				print "  <nop hide=\"true\" condexec=\"play_audio\">"
				print "    <action><exec play_pcap_audio=\"" pcap "\" /></action>"
				print "  </nop>"
			}
			print; done = 1; next }
		{ print }
		END { if (!done) exit 1 }' "$UAC_XML" >"$1" || die "call_uac.xml has no <pause variable=\"hold\" />"
}

CONC_ROWS=()
phase_concurrent() {
	local n dir hold plays xml deadline active t0 t1 c0 c1 s0 s1 m0 m1 mw d0 d1 ok failed fails l0 lines idle secs
	local rb0 rb1 gr0 gr1 g0 gw ue0 ue1 ua0 ua1 what
	local -a uas_args uac_args
	for n in $CONCURRENT; do
		dir=$WORK/concurrent-$n
		mkdir -p "$dir"
		# the ramp may take longer than N/RAMP on a loaded machine: room for half as much again
		hold=${HOLD:-$(((n + RAMP - 1) / RAMP * 3 / 2 + SETTLE + WINDOW + 20))}
		if [[ $CONC_MEDIA == stream ]]; then
			make_stream_scenarios "$dir" "$ALAW"
			uas_args=()
			UAS_SF=$dir/uas.xml
			uac_args=(-set hold_ms $((hold * 1000)))
			xml=$dir/uac.xml
			what="RTPSTREAM G.711 both ways, 20 ms"
		else
			plays=$(((hold * 1000 - 1) / 7000 + 1))
			xml=$dir/call_uac_long.xml
			make_long_uac "$xml" "$plays"
			uas_args=(-rtp_echo -set audio none)
			UAS_SF=
			uac_args=(-set hold_ms $((hold * 1000 - (plays - 1) * 7000)))
			what="g711a.pcap x$plays (caller), RTP echo (callee)"
		fi
		fresh_centrala
		wait_idle || true
		metrics "$dir/base.prom"
		m0=$(mem_kb "$CPID")
		g0=$(mval "$dir/base.prom" go_goroutines)
		l0=$(log_size)
		start_uas "$dir/uas" "${uas_args[@]+"${uas_args[@]}"}" -recv_timeout $(((hold + 60) * 1000))
		UAS_SF=
		log "concurrent: $n calls placed at $RAMP/s, each ${hold}s, $what"
		start_uac "$dir/uac" "$xml" -m "$n" -l "$n" -r "$RAMP" -rp 1000 -recv_timeout $(((hold + 60) * 1000)) "${uac_args[@]}"
		# wait until the N relays are up, at most until the window would reach the end of the
		# first calls
		deadline=$(($(date +%s) + hold - SETTLE - WINDOW - 5))
		while :; do
			metrics "$dir/ramp.prom"
			active=$(mval "$dir/ramp.prom" centrala_rtp_relays_active)
			((active >= n)) && break
			(($(date +%s) > deadline)) && {
				log "concurrent $n: only $active relays up after the ramp"
				break
			}
			kill -0 "$UAC_PID" 2>/dev/null || break
			sleep 0.5
		done
		sleep "$SETTLE"
		metrics "$dir/w0.prom"
		d0=$(rtp_socket_drops)
		rb0=$(udp_rcvbuf_errors)
		ue0=$(udp_port_drops "$UAS_MP")
		ua0=$(udp_port_drops "$UAC_MP")
		c0=$(cpu_ticks "$CPID")
		s0=$(cpu_ticks "$UAC_PID" "$UAS_PID")
		gr0=$(cpu_ticks "$UAC_PID")
		t0=$(now)
		sleep "$WINDOW"
		t1=$(now)
		c1=$(cpu_ticks "$CPID")
		s1=$(cpu_ticks "$UAC_PID" "$UAS_PID")
		gr1=$(cpu_ticks "$UAC_PID")
		d1=$(rtp_socket_drops)
		rb1=$(udp_rcvbuf_errors)
		ue1=$(udp_port_drops "$UAS_MP")
		ua1=$(udp_port_drops "$UAC_MP")
		metrics "$dir/w1.prom"
		mw=$(mem_kb "$CPID")
		gw=$(mval "$dir/w1.prom" go_goroutines)
		local uac_threads
		uac_threads=$(threads "$UAC_PID")
		log "concurrent $n: measured; waiting for the calls to end"
		while kill -0 "$UAC_PID" 2>/dev/null; do sleep 0.5; done
		wait "$UAC_PID" 2>/dev/null || true
		forget_pid "$UAC_PID"
		idle=yes
		wait_idle || idle="NO ($(mval "$WORK/idle.prom" centrala_calls_active) calls, $(mval "$WORK/idle.prom" centrala_rtp_relays_active) relays left)"
		metrics "$dir/end.prom"
		stop_pid "$UAS_PID" USR1
		kill -0 "$CPID" 2>/dev/null || die "centrala died during the run (see $CLOG)"
		m1=$(mem_kb "$CPID")
		read -r ok failed < <(stats_last "$dir/uac" "SuccessfulCall(C)" "FailedCall(C)")
		fails=$(failures "$dir/uac")
		lines=$(log_summary "$l0")
		CONC_ROWS+=("$(awk -v n="$n" -v w0="$dir/w0.prom" -v w1="$dir/w1.prom" -v end="$dir/end.prom" -v base="$dir/base.prom" \
			-v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v c="$((c1 - c0))" -v s="$((s1 - s0))" \
			-v uac="$((gr1 - gr0))" -v hz="$CLK_TCK" -v m0="$m0" -v mw="$mw" -v m1="$m1" -v d="$((d1 - d0))" \
			-v rb="$((rb1 - rb0))" -v ue="$((ue1 - ue0))" -v ua="$((ua1 - ua0))" -v mode="$CONC_MEDIA" -v ok="$ok" -v failed="$failed" -v fails="$fails" -v idle="$idle" -v g0="$g0" -v gw="$gw" \
			-v thr="$uac_threads" -v hold="$hold" '
			function load(f, arr,   line, k) { while ((getline line < f) > 0) { split(line, k, " "); arr[k[1]] = k[2] } close(f) }
			BEGIN {
				load(w0, A); load(w1, B); load(end, E); load(base, Z)
				ab = "centrala_rtp_packets_relayed_total{direction=\"a_to_b\"}"
				ba = "centrala_rtp_packets_relayed_total{direction=\"b_to_a\"}"
				pab = (B[ab] - A[ab]) / secs; pba = (B[ba] - A[ba]) / secs
				drops = ""; dsum = 0
				for (k in B) if (k ~ /^centrala_rtp_packets_dropped_total/) { x = B[k] - A[k]; if (x > 0) { r = k; sub(/.*reason="/, "", r); sub(/".*/, "", r)
					dir = k; sub(/.*direction="/, "", dir); sub(/".*/, "", dir); drops = drops sprintf("%s %s %d, ", dir, r, x); dsum += x } }
				la = B["centrala_rtp_packets_lost_total{direction=\"a_to_b\"}"] - A["centrala_rtp_packets_lost_total{direction=\"a_to_b\"}"]
				lb = B["centrala_rtp_packets_lost_total{direction=\"b_to_a\"}"] - A["centrala_rtp_packets_lost_total{direction=\"b_to_a\"}"]
				split(m0, a, " "); split(mw, w, " "); split(m1, e, " ")
				line = sprintf("%d|%d/%d|%.0f%%|%.0f|%.0f|%.0f|%d|%.1f/%.1f/%.1f|%.0f|%d/%d|%.0f%% (%d threads)",
					n, A["centrala_rtp_relays_active"], B["centrala_rtp_relays_active"], c / hz / secs * 100,
					pab, pba, pab + pba, dsum, a[2] / 1024, w[2] / 1024, e[2] / 1024,
					(A["centrala_rtp_relays_active"] > 0 ? (w[2] - a[2]) * 1024 / A["centrala_rtp_relays_active"] : 0),
					ok, failed, s / hz / secs * 100, thr)
				hi = "go_memstats_heap_inuse_bytes"; ng = "go_memstats_next_gc_bytes"
				notes = sprintf("window %.0fs, hold %ds, RSS %.1f->%.1f MiB, Go heap in use %.1f->%.1f MiB (GC goal %.1f->%.1f), goroutines %d->%d, SIPp caller %.0f%% cpu", secs, hold,
					a[1] / 1024, w[1] / 1024, Z[hi] / 1048576, B[hi] / 1048576, Z[ng] / 1048576, B[ng] / 1048576, g0, gw, uac / hz / secs * 100)
				if (la + lb > 0) notes = notes sprintf(", lost (sequence gaps seen by Centrala) a_to_b %d, b_to_a %d", la, lb)
				if (mode == "stream" && ua + ue > 0)
					notes = notes sprintf(", dropped by the kernel at the SIPp media sockets, which nobody reads (expected): caller %d, callee %d", ua, ue)
				if (mode != "stream" && ua > 0) notes = notes sprintf(", %d dropped by the kernel at the SIPp caller media socket, which nobody reads (expected)", ua)
				if (mode != "stream" && ue > 0) notes = notes sprintf(", %d dropped by the kernel at the SIPp callee echo socket (the echo thread did not keep up)", ue)
				if (drops != "") notes = notes ", dropped: " substr(drops, 1, length(drops) - 2)
				if (d > 0) notes = notes sprintf(", %d dropped by the kernel at Centrala RTP sockets", d)
				if (rb - ua - ue - d > 0) notes = notes sprintf(", %d more UDP datagrams dropped machine-wide for full receive buffers", rb - ua - ue - d)
				t = E["centrala_rtp_timeouts_total"] - Z["centrala_rtp_timeouts_total"]
				if (t > 0) notes = notes sprintf(", %d RTP timeouts", t)
				if (fails != "") notes = notes ", " fails
				if (idle != "yes") notes = notes ", idle afterwards: " idle
				if (B["centrala_rtp_relays_active"] < 0.95 * A["centrala_rtp_relays_active"]) notes = notes ", CALLS ENDED DURING THE WINDOW"
				print line "|" notes }')")
		[[ -n $lines ]] && CONC_ROWS[-1]+=", centrala log: $lines"
		log "concurrent $n: ${CONC_ROWS[-1]}"
	done
}

# ---------------------------------------------------------------- run
ALAW=$WORK/g711a.alaw
if [[ $PHASES == *concurrent* && $CONC_MEDIA == stream ]] || [[ $PHASES == *setup* && $SETUP_AUDIO == stream ]]; then
	make_alaw "$ALAW"
fi
check_call
metrics "$WORK/start.prom"
for p in $PHASES; do
	case $p in
	setup) phase_setup ;;
	concurrent) phase_concurrent ;;
	esac
done
# goroutines of ended calls (transactions finishing their timers) should go back to the
# start's level within LINGER seconds
g_start=$(mval "$WORK/start.prom" go_goroutines)
for ((i = 0; i < ${LINGER:-40} * 2; i++)); do
	metrics "$WORK/final.prom"
	(($(mval "$WORK/final.prom" go_goroutines) <= g_start + 10)) && break
	sleep 0.5
done
final_mem=$(mem_kb "$CPID")

# ---------------------------------------------------------------- report
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "Calls through Centrala (B2BUA, RTP relayed), SIPp $(sipp -v 2>&1 | awk '/SIPp v/ { sub(/\.$/, "", $2); print $2; exit }'), UDP, $CALLERS caller accounts -> extension $CALLEE_EXT (one SIPp UAS)"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}; load average before the report: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#SETUP_ROWS[@]})); then
	echo
	echo "Call set-ups (INVITE, 407, INVITE with credentials, 180, 200, ACK, ${SETUP_HOLD_MS} ms, BYE), audio $SETUP_AUDIO"
	printf '%7s %7s %6s %7s %6s %8s %11s %6s %8s %15s  %s\n' offered calls "ok/s" ok failed "setup ms" "CPU ms/call" "CPU" "SIPp CPU" "PSS MiB bef/aft" notes
	for r in "${SETUP_ROWS[@]}"; do
		IFS='|' read -r rate calls cps ok failed sms cpu pct spct pss notes <<<"$r"
		printf '%7s %7s %6s %7s %6s %8s %11s %6s %8s %15s  %s\n' "$rate" "$calls" "$cps" "$ok" "$failed" "$sms" "$cpu" "$pct" "$spct" "$pss" "$notes"
	done
fi
if ((${#CONC_ROWS[@]})); then
	echo
	if [[ $CONC_MEDIA == stream ]]; then
		echo "Concurrent calls, G.711 A-law both ways (SIPp RTPSTREAM, 20 ms packets: 50/s per direction and call), relayed by Centrala"
	else
		echo "Concurrent calls, G.711 A-law caller -> Centrala -> callee (echo) -> Centrala -> caller (g711a.pcap, 30 ms packets: 33/s)"
	fi
	printf '%6s %11s %6s %8s %8s %8s %6s %17s %7s %11s %22s  %s\n' N relays CPU "a_to_b/s" "b_to_a/s" "pkt/s" drops "PSS MiB 0/N/end" "B/call" "ok/failed" "SIPp CPU" notes
	for r in "${CONC_ROWS[@]}"; do
		IFS='|' read -r n rel pct ab ba tot drops pss per okf scpu notes <<<"$r"
		printf '%6s %11s %6s %8s %8s %8s %6s %17s %7s %11s %22s  %s\n' "$n" "$rel" "$pct" "$ab" "$ba" "$tot" "$drops" "$pss" "$per" "$okf" "$scpu" "$notes"
	done
fi
echo
echo "centrala at the end (idle): PSS $(awk '{ printf "%.1f", $2 / 1024 }' <<<"$final_mem") MiB," \
	"Go heap in use $(awk -v b="$(mval "$WORK/final.prom" go_memstats_heap_inuse_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }') MiB" \
	"(at the start $(awk -v b="$(mval "$WORK/start.prom" go_memstats_heap_inuse_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }'))," \
	"goroutines $(mval "$WORK/final.prom" go_goroutines) (at the start $g_start)," \
	"relays $(mval "$WORK/final.prom" centrala_rtp_relays_active), RTP ports in use $(mval "$WORK/final.prom" centrala_rtp_ports_in_use)," \
	"calls active $(mval "$WORK/final.prom" centrala_calls_active); CDRs:" \
	"$(awk '/^centrala_calls_total/ && $2 > 0 { k = $1; sub(/centrala_calls_total/, "", k); printf "%s=%d ", k, $2 }' "$WORK/final.prom")"
errs=$(grep -c -E 'level=(ERROR|WARN)' "$CLOG" || true)
if ((errs > 0)); then
	echo "centrala log: $errs warnings/errors, by message:"
	log_summary 0 | tr ';' '\n' | sed -e 's/^ *//' -e '/^$/d' | sort -rn | head -20 | sed 's/^/  /'
fi
