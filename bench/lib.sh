# Shared by the benchmark scripts (sourced, not run).
# busy: another cargo/rustc is running (measurements taken then are marked, not trusted).
# wait_idle: wait up to $WAIT_IDLE seconds for the machine to become idle.
busy() { pgrep -x rustc >/dev/null 2>&1 || pgrep -x cargo >/dev/null 2>&1; }
wait_idle() {
  local waited=0
  while busy && ((waited < ${WAIT_IDLE:-600})); do
    ((waited == 0)) && echo "   (waiting for other cargo/rustc processes to finish…)" >&2
    sleep 10
    waited=$((waited + 10))
  done
}
