# shellcheck shell=bash
# Sourced by .ci/run and scripts/setup. `stage NAME CMD...` runs CMD and, when ZMQOS_STAGES names
# a file, appends NAME, its wall time and its exit code to it (a stage that never finished, e.g.
# killed by a timeout, is there as started) and keeps a copy of its output beside it;
# `stages_table` prints the end of each failed stage's output again, then that file as a table,
# so a log that only keeps its last lines still shows why a stage failed. `stage_bg` starts a
# stage in the background and `stages_wait` waits for every such stage (see there).

stage() {
  local name=$1 t0 rc=0 log
  shift
  t0=$EPOCHREALTIME
  if [ -z "${ZMQOS_STAGES:-}" ]; then
    "$@" || rc=$?
    return "$rc"
  fi
  # Named after the stage, not numbered: stages started together must not share a log.
  log="$ZMQOS_STAGES.${name//[^A-Za-z0-9]/_}.log"
  printf 'start\t%s\t%s\t%s\n' "$name" "$t0" "$log" >>"$ZMQOS_STAGES"
  if [ -n "${ZMQOS_STAGE_QUIET:-}" ]; then
    { "$@" >"$log" 2>&1 || rc=$?; echo "$rc" >"$log.rc"; }
  else
    { "$@" 2>&1 || rc=$?; echo "$rc" >"$log.rc"; } | tee "$log"
  fi
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  printf 'end\t%s\t%s\t%s\n' "$name" "$EPOCHREALTIME" "$rc" >>"$ZMQOS_STAGES"
  return "$rc"
}

declare -A _stages_bg=()

# stage_bg NAME CMD...: `stage NAME CMD...` in the background, its output only in its log, so
# that stages running together do not interleave their lines; stages_wait prints it whole.
stage_bg() {
  ZMQOS_STAGE_QUIET=1 stage "$@" &
  _stages_bg[$!]=$1
  printf 'stage "%s": started in the background\n' "$1"
}

# stages_wait [SECONDS]: waits for every stage_bg stage; prints each one's output when it ends,
# and every SECONDS (default 60) a progress line per stage still running (its time so far and
# the last line of its output that says something). Returns the first failed stage's exit code.
stages_wait() {
  local every=${1:-60} rc=0 r pid name ticker
  [ "${#_stages_bg[@]}" -gt 0 ] || return 0
  _stages_progress "$every" "${_stages_bg[@]}" &
  ticker=$!
  while [ "${#_stages_bg[@]}" -gt 0 ]; do
    r=0
    wait -n -p pid "${!_stages_bg[@]}" || r=$?
    name=${_stages_bg[$pid]}
    unset "_stages_bg[$pid]"
    printf '\n===== stage "%s" ended (exit %s); its output =====\n' "$name" "$r"
    cat "$(_stage_log "$name")" 2>/dev/null || true
    [ "$rc" -ne 0 ] || rc=$r
  done
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}

# stages_kill_bg: stops every stage_bg stage still running with all its processes (tox,
# Molecule, Ansible), which outlive their stage's shell when only that is killed.
stages_kill_bg() {
  local pid
  for pid in "${!_stages_bg[@]}"; do
    _kill_tree "$pid"
  done
}

_kill_tree() {
  local child
  kill -STOP "$1" 2>/dev/null || return 0
  for child in $(pgrep -P "$1"); do
    _kill_tree "$child"
  done
  kill -TERM "$1" 2>/dev/null || true
  kill -CONT "$1" 2>/dev/null || true
}

_stage_log() {
  awk -F'\t' -v n="$1" '$1 == "start" && $2 == n { f = $4 } END { print f }' "$ZMQOS_STAGES"
}

_stages_progress() {
  local every=$1 name t0 line
  shift
  while sleep "$every"; do
    for name in "$@"; do
      # The stage's start time, or nothing once it has ended.
      t0=$(awk -F'\t' -v n="$name" '$2 == n { t = $1 == "start" ? $3 : "" } END { print t }' "$ZMQOS_STAGES")
      [ -n "$t0" ] || continue
      # Skips blank lines and the timestamps of Ansible's profile_tasks ("Friday 04 December ...").
      line=$(grep -vE '^[[:space:]]*$|^[A-Z][a-z]+day [0-9]{2} ' "$(_stage_log "$name")" 2>/dev/null |
        tail -n 1 | cut -c1-110)
      printf 'stage "%s": running for %s | %s\n' "$name" \
        "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { s = int(b - a); printf "%d:%02d", s / 60, s % 60 }')" "$line"
    done
  done
}

# stages_failed_tails [LINES]: the last LINES (default 60) lines of every stage that failed or
# did not finish.
stages_failed_tails() {
  local lines=${1:-60} name log
  awk -F'\t' '$1 == "start" { out[$2] = $4; order[++n] = $2 }
    $1 == "end" { code[$2] = $4 }
    END { for (i = 1; i <= n; i++) if (!(order[i] in code) || code[order[i]] != 0) print order[i] "\t" out[order[i]] }' \
    "$ZMQOS_STAGES" | while IFS=$'\t' read -r name log; do
    [ -f "$log" ] || continue
    printf '\n===== the last %s lines of stage "%s" (failed) =====\n' "$lines" "$name"
    tail -n "$lines" "$log"
  done
}

# stages_table START_EPOCH [EXIT_CODE]: one row per stage in the order they started, then the total.
stages_table() {
  awk -F'\t' -v t0="$1" -v now="$EPOCHREALTIME" -v rc="${2:-0}" '
    function mmss(s) { s = int(s + 0.5); return sprintf("%d:%02d", s / 60, s % 60) }
    $1 == "start" { n++; name[n] = $2; start[n] = $3; row[$2] = n }
    $1 == "end" { i = row[$2]; stop[i] = $3; code[i] = $4 }
    END {
      printf "\n%-34s %8s  %s\n", "stage", "wall", "result"
      for (i = 1; i <= n; i++) {
        if (i in stop) {
          res = code[i] == 0 ? "ok" : "FAILED (exit " code[i] ")"
          if (code[i] != 0 && !failed) failed = name[i]
        } else {
          res = "did not finish"; stop[i] = now
          if (!failed) failed = name[i]
        }
        printf "%-34s %8s  %s\n", name[i], mmss(stop[i] - start[i]), res
      }
      res = rc == 0 ? "ok" : "FAILED (exit " rc ")" (failed ? ", first at: " failed : "")
      printf "%-34s %8s  %s\n", "total", mmss(now - t0), res
    }' "$ZMQOS_STAGES"
}
