# Shared by .ci/run and .ci/cross (sourced): CI's build settings, named steps, each with
# its wall-clock time, and a table of the times at the end.

# CI's build settings. They live here, not in Cargo.toml's profiles (those are the
# developers'), and .ci/run and .ci/cross share them so that either run alone reuses the
# other's artifacts. A CI run never reuses incremental caches, so it does not write them.
# The dev and test profiles (host tests, the Windows test binaries) keep line tables only:
# file:line in backtraces, without the full debug info that makes linking (mingw's ld
# above all) slow and the target directory several GB bigger. The release profile (the
# demo) stays as Cargo.toml has it. Measured cold on this 2-core machine while others
# loaded it (load average 4-9): Windows clippy (640 s) and test build (1354 s) with full
# debug info, 11 GB of target directory, became 1380 s and 3.3 GB with line tables only
# and clippy folded into the build (.ci/cross); both changes at once, not apart.
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
export CARGO_PROFILE_TEST_DEBUG=line-tables-only
# Where cargo builds: CARGO_TARGET_DIR if set (a cold run in a fresh directory), else the
# workspace's target/. The fuzz check and the wine prefix use it too.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

STEP_NAMES=()
STEP_SECS=()
STEP_CPU=()
_step_name=""
_step_start=0
_step_cpu_start=0
_times_file="$(mktemp)"
trap 'rm -f "$_times_file"' EXIT

# _cpu_now: sets CPU_NOW to the CPU seconds (user + system) used so far by this shell's
# finished children. Wall time on a shared machine depends on the others' load; CPU time
# much less so. (`times` must run in this shell: in `$(...)` it would report a subshell's.)
CPU_NOW=0
_cpu_now() {
    times >"$_times_file"
    CPU_NOW=$(awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }
        printf "%d\n", t
    }' "$_times_file")
}

_close_step() {
    if [ -n "$_step_name" ]; then
        local took=$((SECONDS - _step_start)) cpu
        _cpu_now
        cpu=$((CPU_NOW - _step_cpu_start))
        STEP_NAMES+=("$_step_name")
        STEP_SECS+=("$took")
        STEP_CPU+=("$cpu")
        printf -- '-- %s: %ds (CPU %ds)\n' "$_step_name" "$took" "$cpu"
        _step_name=""
    fi
}

# step NAME...: ends the previous step (printing its time) and starts this one.
step() {
    _close_step
    _step_name="$*"
    _step_start=$SECONDS
    _cpu_now
    _step_cpu_start=$CPU_NOW
    printf '\n== %s ==\n' "$*"
}

# step_times TITLE: ends the current step and prints every step's time and the total.
step_times() {
    _close_step
    printf '\n== step times: %s (wall, CPU of the step'"'"'s processes) ==\n' "$1"
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '%6ds %6ds  %s\n' "${STEP_SECS[$i]}" "${STEP_CPU[$i]}" "${STEP_NAMES[$i]}"
    done
    _cpu_now
    printf '%6ds %6ds  total (load average now: %s)\n' "$SECONDS" "$CPU_NOW" \
        "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
}
