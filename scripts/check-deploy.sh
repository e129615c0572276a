#!/usr/bin/env bash
# Checks the deployment files under deploy/ without running them (issue 9, item 6):
#   - the systemd units (and the process-engine drop-in): `systemd-analyze verify`, where any
#     warning (an unknown key, a value it cannot parse, a missing target) is a failure, and
#     `systemd-analyze security --offline` with a ceiling on the exposure score so a hardening
#     option cannot be dropped unnoticed;
#   - the Kubernetes manifests: strict schema validation (unknown fields are errors) with the
#     kubernetes-validate package from PyPI, which ships the schemas and needs no network after
#     its install.
# Tools missing: systemd-analyze (Debian package systemd) and python3-venv are installed by .ci/run;
# run by hand, a missing tool is named and its check skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
pass() { echo "ok: $*"; }
fail() { echo "FAILED: $*" >&2; failed=1; }

if command -v systemd-analyze >/dev/null; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  # verify resolves ExecStart and the units' targets under --root: a stub binary stands in for
  # the installed insitu and the host's own units provide the targets.
  mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
  printf '#!/bin/sh\n' >"$root/usr/local/bin/insitu"
  chmod +x "$root/usr/local/bin/insitu"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp deploy/systemd/insitu-orchestrator.service deploy/systemd/insitu-agent.service "$root/etc/systemd/system/"
  for unit in insitu-orchestrator.service insitu-agent.service; do
    out=$(systemd-analyze verify --man=no --root="$root" "$root/etc/systemd/system/$unit" 2>&1) || true
    if [ -n "$out" ]; then fail "systemd-analyze verify $unit:"$'\n'"$out"; else pass "systemd-analyze verify $unit"; fi
    # 0 is fully locked down, 10 is none; the units score 1.4 and 1.6 (systemd 252).
    score=$(systemd-analyze security --offline=yes --root="$root" "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then fail "systemd-analyze security $unit gave no score"
    elif awk -v s="$score" 'BEGIN{exit !(s <= 2.0)}'; then pass "$unit exposure $score (at most 2.0)"
    else fail "$unit exposure $score is above 2.0: a hardening option was dropped"; fi
  done
  # The drop-in for the process engine, applied to the agent's unit.
  mkdir -p "$root/etc/systemd/system/insitu-agent.service.d"
  cp deploy/systemd/insitu-agent.service.d/process-engine.conf "$root/etc/systemd/system/insitu-agent.service.d/"
  out=$(systemd-analyze verify --man=no --root="$root" "$root/etc/systemd/system/insitu-agent.service" 2>&1) || true
  if [ -n "$out" ]; then fail "systemd-analyze verify insitu-agent.service with process-engine.conf:"$'\n'"$out"
  else pass "systemd-analyze verify insitu-agent.service with process-engine.conf"; fi
else
  echo "skipped: systemd units (no systemd-analyze: apt-get install systemd)"
fi

venv=.build/kubernetes-validate-venv
if [ -x "$venv/bin/kubernetes-validate" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'kubernetes-validate==1.37.0'; }; then
  if "$venv/bin/kubernetes-validate" --strict --quiet -k 1.37.0 deploy/kubernetes/*.yaml; then
    pass "kubernetes-validate --strict deploy/kubernetes ($(ls deploy/kubernetes/*.yaml | wc -l) files, Kubernetes 1.37)"
  else
    fail "kubernetes-validate deploy/kubernetes"
  fi
else
  fail "could not install kubernetes-validate from PyPI into $venv"
fi

exit $failed
