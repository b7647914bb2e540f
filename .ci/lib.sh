# Shared by .ci/run and .ci/cross (sourced): named steps, each with its wall-clock time,
# and a table of the times at the end.

STEP_NAMES=()
STEP_SECS=()
_step_name=""
_step_start=0

_close_step() {
    if [ -n "$_step_name" ]; then
        local took=$((SECONDS - _step_start))
        STEP_NAMES+=("$_step_name")
        STEP_SECS+=("$took")
        printf -- '-- %s: %ds\n' "$_step_name" "$took"
        _step_name=""
    fi
}

# step NAME...: ends the previous step (printing its time) and starts this one.
step() {
    _close_step
    _step_name="$*"
    _step_start=$SECONDS
    printf '\n== %s ==\n' "$*"
}

# step_times TITLE: ends the current step and prints every step's time and the total.
step_times() {
    _close_step
    printf '\n== step times: %s ==\n' "$1"
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '%6ds  %s\n' "${STEP_SECS[$i]}" "${STEP_NAMES[$i]}"
    done
    printf '%6ds  total\n' "$SECONDS"
}
