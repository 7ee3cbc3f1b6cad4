#!/usr/bin/env bash
# The GitHub Action's step: turns the action's inputs (environment variables) into one
# `policy ci` call. Everything else (lint, annotations, diff, $GITHUB_OUTPUT,
# $GITHUB_STEP_SUMMARY) is `policy ci`'s, so this script stays testable outside GitHub:
# tests/suite/action.rs runs it with a simulated environment.
set -euo pipefail
POLICY=${POLICY_BIN:-${RUNNER_TEMP:+$RUNNER_TEMP/policy-cli/bin/}policy}
args=(ci --fail-on "${FAIL_ON:-error}" --format "${FORMAT:-github}")
if [ -n "${BASE_REF:-}" ]; then
  args+=(--base-ref "$BASE_REF")
fi
if [ -n "${BASELINE:-}" ]; then
  args+=(--baseline "$BASELINE")
fi
if [ -n "${SARIF_FILE:-}" ]; then
  args+=(--sarif-file "$SARIF_FILE")
fi
if [ -n "${TRAFFIC:-}" ]; then
  args+=(--traffic "$TRAFFIC")
fi
if [ -n "${EXPECT:-}" ]; then
  args+=(--expect "$EXPECT")
fi
if [ "${COMMENT:-false}" = true ]; then
  args+=(--comment)
fi
# Split FILES on whitespace without letting the shell expand the globs: `policy ci` does.
set -f
# shellcheck disable=SC2206
files=(${FILES:-})
set +f
exec "$POLICY" "${args[@]}" "${files[@]}"
