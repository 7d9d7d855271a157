# shellcheck shell=bash
# Sourced by .ci/run and scripts/setup. `stage NAME CMD...` runs CMD and, when ZMQOS_STAGES names
# a file, appends NAME, its wall time and its exit code to it (a stage that never finished, e.g.
# killed by a timeout, is there as started); `stages_table` prints that file as a table.

stage() {
  local name=$1 t0 rc=0
  shift
  t0=$EPOCHREALTIME
  [ -z "${ZMQOS_STAGES:-}" ] || printf 'start\t%s\t%s\n' "$name" "$t0" >>"$ZMQOS_STAGES"
  "$@" || rc=$?
  [ -z "${ZMQOS_STAGES:-}" ] || printf 'end\t%s\t%s\t%s\n' "$name" "$EPOCHREALTIME" "$rc" >>"$ZMQOS_STAGES"
  return "$rc"
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
