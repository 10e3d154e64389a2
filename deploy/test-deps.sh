#!/usr/bin/env bash
# Installs the programs Centrala's tests run as real peers, when they are missing.
#
#   deploy/test-deps.sh                      # the test set: redis-server, sipp, baresip, prompts, music on hold
#   deploy/test-deps.sh kamailio=kamailio    # any other binary=debian-package pairs
#
# A "binary" that starts with / is a file the package installs (data packages have no binary).
#
# Quiet and a no-op when every binary is on PATH. Otherwise, as root: `apt-get update` once,
# then `apt-get install -y --no-install-recommends` of the missing packages; not root but
# with sudo: the same through sudo; neither: prints what to install and exits 1.
# The Go toolchain is assumed to be present.
#
# Services are not started by the install (redis-server and kamailio would otherwise start a
# system instance on 6379/5060): a policy-rc.d that answers 101 is put in place for the
# install when there is none, and removed afterwards. Tests start their own servers on
# free loopback ports.
set -euo pipefail

default_pairs=(
	redis-server=redis-server
	sipp=sip-tester
	baresip=baresip-core
	/usr/share/asterisk/sounds/en/vm-goodbye.wav=asterisk-core-sounds-en-wav
	/usr/share/asterisk/moh/macroform-cold_day.wav=asterisk-moh-opsound-wav
)

# present reports whether a binary is on PATH (or in the sbin/bin directories), or a file
# named by its absolute path exists.
present() {
	if [[ $1 == /* ]]; then
		[[ -e $1 ]]
		return
	fi
	command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/bin/$1 ]]
}

if [[ $# -gt 0 ]]; then
	pairs=("$@")
else
	pairs=("${default_pairs[@]}")
fi

missing=()
for pair in "${pairs[@]}"; do
	bin=${pair%%=*}
	pkg=${pair#*=}
	if [[ -z $bin || -z $pkg || $pair != *=* ]]; then
		echo "test-deps: bad argument '$pair', want binary=package" >&2
		exit 2
	fi
	if ! present "$bin"; then
		# skip duplicates (two binaries from one package)
		dup=0
		for m in "${missing[@]+"${missing[@]}"}"; do [[ $m == "$pkg" ]] && dup=1; done
		((dup)) || missing+=("$pkg")
	fi
done

((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -eq 0 ]]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo -n)
else
	echo "test-deps: missing packages: ${missing[*]}" >&2
	echo "test-deps: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing packages: ${missing[*]} (no apt-get here: install them by hand)" >&2
	exit 1
fi

echo "test-deps: installing ${missing[*]}" >&2

policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d} # overridable for testing this script
made_policy=0
cleanup() {
	if ((made_policy)); then
		"${as_root[@]+"${as_root[@]}"}" rm -f "$policy"
	fi
}
trap cleanup EXIT
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# temporary, from centrala deploy/test-deps.sh: do not start services\nexit 101\n' |
		"${as_root[@]+"${as_root[@]}"}" tee "$policy" >/dev/null
	"${as_root[@]+"${as_root[@]}"}" chmod 0755 "$policy"
	made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]+"${as_root[@]}"}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]+"${as_root[@]}"}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Check that what we wanted is now there.
still=()
for pair in "${pairs[@]}"; do
	bin=${pair%%=*}
	if ! present "$bin"; then
		still+=("$bin (${pair#*=})")
	fi
done
if ((${#still[@]} > 0)); then
	echo "test-deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
