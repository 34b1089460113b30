#!/usr/bin/env bash
# Stand N machines up on this one: each a `bosun agent` with its own node name, join file, data directory and
# labels, as `ssh gpu-a bosun agent …` would on a real machine (docs/nodes.md, "Adding a machine").
#
#   examples/multinode/machines.sh [N] [DIR]     # default 3 machines, files under .bosun-machines/
#
# Run it from the repository root beside a running `bosun up` (make up): it joins machine-1..N as the admin
# (`bosun node join`, reading ./.bosun/connection.json or BOSUN_DATA), then runs their agents until Ctrl-C,
# which stops them and the replicas they run. Odd machines are in zone a, even ones in zone b; each declares
# GPUS devices (default 2). An agent gets only its join file: no admin token in its environment.
set -euo pipefail

N=${1:-3}
DIR=${2:-.bosun-machines}
GPUS=${GPUS:-2}
if [ -z "${BOSUN:-}" ]; then
  if [ -x .venv/bin/bosun ]; then BOSUN=.venv/bin/bosun; else BOSUN=bosun; fi
fi

mkdir -p "$DIR"
chmod 700 "$DIR"
pids=()
stop() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
  wait
}
trap stop EXIT INT TERM

for i in $(seq 1 "$N"); do
  name=machine-$i
  zone=$([ $((i % 2)) -eq 1 ] && echo a || echo b)
  "$BOSUN" node join "$name" -o "$DIR/join-$name.json"
  mkdir -p "$DIR/$name"
  # The agent's environment: none of the admin's Bosun variables (its token is in its join file only).
  env -u BOSUN_TOKEN -u BOSUN_SERVER -u BOSUN_NATS_URL -u BOSUN_NATS_CREDENTIALS \
    "$BOSUN" agent --join "$DIR/join-$name.json" --node "$name" --labels "fleet=demo,zone=$zone" \
      --gpus "$GPUS" --data "$DIR/$name" --stop-replicas-on-exit >>"$DIR/$name.log" 2>&1 &
  pids+=("$!")
  echo "machine $name (zone $zone, $GPUS GPUs): agent pid $!, log $DIR/$name.log"
done
echo "running ${#pids[@]} machines; Ctrl-C stops them and their replicas"
wait
