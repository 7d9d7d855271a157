# shellcheck shell=bash
# Sourced by .ci/run and scripts/setup. `stage NAME CMD...` runs CMD and, when ZMQOS_STAGES names
# a file, appends NAME, its wall time and its exit code to it (a stage that never finished, e.g.
# killed by a timeout, is there as started) and keeps a copy of its output beside it;
# `stages_table` prints the end of each failed stage's output again, then that file as a table,
# so a log that only keeps its last lines still shows why a stage failed.

stage() {
  local name=$1 t0 rc=0 log
  shift
  t0=$EPOCHREALTIME
  if [ -z "${ZMQOS_STAGES:-}" ]; then
    "$@" || rc=$?
    return "$rc"
  fi
  log="$ZMQOS_STAGES.$(grep -c '^start' "$ZMQOS_STAGES" || true).log"
  printf 'start\t%s\t%s\t%s\n' "$name" "$t0" "$log" >>"$ZMQOS_STAGES"
  { "$@" 2>&1 || rc=$?; echo "$rc" >"$log.rc"; } | tee "$log"
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  printf 'end\t%s\t%s\t%s\n' "$name" "$EPOCHREALTIME" "$rc" >>"$ZMQOS_STAGES"
  return "$rc"
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
