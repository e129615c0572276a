#!/usr/bin/env bash
# The whole test suite, in two passes (run after `swift build --build-tests`):
#   1. everything except the stop-latency tests, in parallel;
#   2. the stop-latency tests, one at a time: they assert wall-clock bounds (a timeout or `job stop`
#      ends the work within one second, as issue 7 asks of every engine), which hold on a quiet
#      machine but not while 450 other tests start processes on 2 cores (seen: 1-5 s stalls).
# Extra arguments go to both `swift test` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
timed='WithinOneSecond|WithinASecond|AtItsDeadline|ReturnsPromptly|IsPrompt|cancellationKillsTheProcess|timeoutKillsTheWholeProcessGroup|TimesOutInAChildProcess|UsesAChildProcessForTimeouts'
swift test --skip-build --skip "$timed" "$@"
swift test --skip-build --filter "$timed" --no-parallel "$@"
