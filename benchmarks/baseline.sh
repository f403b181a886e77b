#!/usr/bin/env bash
# Measures the redis-benchmark baselines the FirstSip.Streams benchmark ratios are taken against, on a
# redis-server of its own (free loopback port, no persistence), and prints them as key=value lines:
#   xadd_1_client_ops_per_s                XADD, 1 client, unpipelined
#   xadd_50_clients_pipeline_16_ops_per_s  XADD, 50 clients, pipeline 16 (the server's ceiling)
#   xreadgroup_count_500_msgs_per_s        XREADGROUP COUNT 500 by one client from a seeded stream, served by Redis alone
# The XADD fields match what the .NET publisher writes for the benchmark's result message (about 250 bytes).
# Each figure is the median of REPEAT runs (the machine's noise moves single runs by 10-30%).
# Environment: SEQUENTIAL_N (default 50000), PIPELINED_N (default 1000000), READ_CALLS (default 1500), REPEAT (default 3).
set -euo pipefail

SEQUENTIAL_N=${SEQUENTIAL_N:-50000}
PIPELINED_N=${PIPELINED_N:-1000000}
READ_CALLS=${READ_CALLS:-1500}
REPEAT=${REPEAT:-3}

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run ./run bench-baseline (installs it) or apt-get install redis-server redis-tools" >&2; exit 1; }
done

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
workdir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$workdir" >"$workdir/redis.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

payload='{"plugin_run_id":"3f2b8c1e-9a4d-4c6b-8f0e-2d7a1b5c9e40","status":"completed","output":"{\"summary\":\"Three stories moved markets today.\",\"sections\":[{\"title\":\"Markets\",\"content\":\"Stocks rose on strong earnings.\"}]}","error":null,"retryable":false}'

# Prints the requests-per-second figure of a quiet (-q) redis-benchmark run.
rps() { redis-benchmark -p "$port" -q "$@" 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -n 1 | cut -d' ' -f1; }

# Prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

seq_runs=(); pipe_runs=(); read_runs=()
for run in $(seq 1 "$REPEAT"); do
  redis-cli -p "$port" DEL bench:seq bench:pipe >/dev/null
  seq_runs+=("$(rps -c 1 -P 1 -n "$SEQUENTIAL_N" XADD bench:seq '*' payload "$payload" schema_version v1 published_at 1771469823)")
  pipe_runs+=("$(rps -c 50 -P 16 -n "$PIPELINED_N" XADD bench:pipe '*' payload "$payload" schema_version v1 published_at 1771469823)")

  # The pipelined run seeded bench:pipe; one client reads it 500 entries per call (entries become pending, as for a real consumer).
  length=$(redis-cli -p "$port" XLEN bench:pipe)
  calls=$(( READ_CALLS < length / 500 ? READ_CALLS : length / 500 ))
  redis-cli -p "$port" XGROUP CREATE bench:pipe readers 0 >/dev/null
  read_rps=$(rps -c 1 -P 1 -n "$calls" XREADGROUP GROUP readers c1 COUNT 500 STREAMS bench:pipe '>')
  read_runs+=("$(/usr/bin/python3 -c "print(round(float('$read_rps') * 500))")")
  echo "run $run of $REPEAT: xadd 1 client ${seq_runs[-1]}/s, xadd pipelined ${pipe_runs[-1]}/s, xreadgroup ${read_runs[-1]} msgs/s" >&2
done
seq_rps=$(median "${seq_runs[@]}")
pipe_rps=$(median "${pipe_runs[@]}")
read_msgs=$(median "${read_runs[@]}")

echo "redis_version=$(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
echo "xadd_1_client_ops_per_s=$seq_rps"
echo "xadd_50_clients_pipeline_16_ops_per_s=$pipe_rps"
echo "xreadgroup_count_500_msgs_per_s=$read_msgs"
