# bench/lib/measure.sh — what the benchmarks of bench/run share for measuring: CPU
# samples, waiting for a quiet machine, number formatting. Sourced, not run; the caller
# defines say() and sets MAX_BUSY and QUIET_TIMEOUT.

# cpu_sample: "busy total" jiffies over all CPUs since boot (iowait counts as idle).
cpu_sample() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6; exit }' /proc/stat; }
# busy_pct A B: the share of all CPUs that was busy between two samples.
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'; }
# cores_used A B: the same, as a number of cores.
cores_used() { awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.2f", (t > 0 ? n * (y[1] - x[1]) / t : 0) }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
per_sec() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
thousands() { LC_ALL=C awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r }'; }

# wait_quiet: until the CPUs were less than MAX_BUSY% busy over 3 s, or QUIET_TIMEOUT.
# Sets QUIET (yes / "no (N% busy)"), BUSY_BEFORE and LOAD_BEFORE for the report.
wait_quiet() {
  local start=$SECONDS a b pct announced=0
  while :; do
    a=$(cpu_sample)
    sleep 3
    b=$(cpu_sample)
    pct=$(busy_pct "$a" "$b")
    if ((pct < MAX_BUSY)); then
      QUIET=yes
      break
    fi
    if ((SECONDS - start >= QUIET_TIMEOUT)); then
      QUIET="no ($pct% busy after ${QUIET_TIMEOUT}s of waiting)"
      say "warning: the machine is still $pct% busy; measuring anyway (flagged in the report)"
      break
    fi
    ((announced)) || say "waiting for the machine to be quiet ($pct% CPU busy, want < $MAX_BUSY%; up to ${QUIET_TIMEOUT}s)"
    announced=1
  done
  BUSY_BEFORE=$pct
  LOAD_BEFORE=$(loadavg)
}
