# Sourced by the camera benchmarks: the machine's CPU accounting over a window.
#   machine_mark            remember /proc/stat's idle and total jiffies now
#   machine_busy            % of all cores busy since the mark
#   proc_cpu PID            a process's user+system jiffies
#   machine_name            "N cores: CPU model"
machine_mark() {
  idle0=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
  all0=$(awk '/^cpu / { s = 0; for (i = 2; i <= NF; i++) s += $i; print s }' /proc/stat)
}
machine_busy() {
  local idle1 all1
  idle1=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
  all1=$(awk '/^cpu / { s = 0; for (i = 2; i <= NF; i++) s += $i; print s }' /proc/stat)
  awk -v i="$((idle1 - idle0))" -v a="$((all1 - all0))" 'BEGIN { printf "%.0f", 100 * (1 - i / a) }'
}
proc_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
machine_name() { echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"; }
