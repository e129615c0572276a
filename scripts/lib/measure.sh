# Helpers shared by the memory scripts (measure-rss.sh, rss-floor.sh, profile-layout.sh); sourced,
# not run. A script sets `measure_name` (for its messages) and may set `wait_seconds` and
# `wait_poll` before calling wait_for.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# "<VmRSS> <RssAnon> <RssFile>" of process $1 in MB (RssShmem is negligible here).
rss() {
  awk '/^VmRSS:/{t=$2} /^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{printf "%.1f %.1f %.1f", t/1024, a/1024, f/1024}' "/proc/$1/status"
}

# Polls CONDITION (a command) every `wait_poll` seconds (default 0.005) for up to `wait_seconds`
# (default 60): the conditions are what a user or a supervisor waits on (a health answer, a node
# listed as connected, a line on stdout), not a sleep standing in for them.
wait_for() {
  local deadline=$(( $(date +%s) + ${wait_seconds:-60} ))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "${measure_name:-measure}: timed out waiting for: $*" >&2; return 1; }
    sleep "${wait_poll:-0.005}"
  done
}

# The median of the numbers on stdin, one per line, with $1 decimals (default 3).
median() {
  sort -n | awk -v d="${1:-3}" '{v[NR]=$1} END{ f="%." d "f\n"; if (NR%2) printf f, v[(NR+1)/2]; else printf f, (v[NR/2]+v[NR/2+1])/2 }'
}
