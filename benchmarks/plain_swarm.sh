#!/usr/bin/env bash
# The baseline: a swarm made with nothing but docker CLI calls, the way a careful person would
# script it. Usage: plain_swarm.sh LAB N MODE IMAGE   (MODE: privileged | capabilities)
# Prints "engines=<s> ready=<s>" (seconds since start). Everything carries io.swarmlab.lab=LAB,
# so `plain_swarm.sh LAB rm` (or swarmlab's own cleanup by label) removes it.
set -euo pipefail
lab=$1
if [ "${2:-}" = rm ]; then
  ids=$(docker ps -aq --filter "label=io.swarmlab.lab=$lab"); [ -n "$ids" ] && docker rm -fv $ids >/dev/null
  vols=$(docker volume ls -q --filter "label=io.swarmlab.lab=$lab"); [ -n "$vols" ] && docker volume rm $vols >/dev/null
  docker network rm "plain-$lab" >/dev/null 2>&1 || true
  exit 0
fi
n=$2 mode=$3 image=$4
now() { date +%s.%N; }
t0=$(now)
if [ "$mode" = privileged ]; then
  flags=(--privileged)
else
  flags=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
         --security-opt apparmor=unconfined --security-opt systempaths=unconfined
         --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp)
fi
docker network create --label "io.swarmlab.lab=$lab" "plain-$lab" >/dev/null
for i in $(seq 1 "$n"); do
  docker volume create --label "io.swarmlab.lab=$lab" "$lab-n$i" >/dev/null
  docker run -d --init --name "$lab-n$i" --hostname "n$i" --network "plain-$lab" \
    --label "io.swarmlab.lab=$lab" -v "$lab-n$i:/var/lib/docker" "${flags[@]}" \
    "$image" dockerd --host=unix:///var/run/docker.sock >/dev/null &
done
wait
for i in $(seq 1 "$n"); do
  ( until docker exec "$lab-n$i" docker version >/dev/null 2>&1; do sleep 0.05; done ) &
done
wait
t_engines=$(now)
ip1=$(docker inspect -f "{{(index .NetworkSettings.Networks \"plain-$lab\").IPAddress}}" "$lab-n1")
docker exec "$lab-n1" docker swarm init --advertise-addr "$ip1" >/dev/null
token=$(docker exec "$lab-n1" docker swarm join-token -q worker)
for i in $(seq 2 "$n"); do
  docker exec "$lab-n$i" docker swarm join --token "$token" "$ip1:2377" >/dev/null &
done
wait
until [ "$(docker exec "$lab-n1" docker node ls --format '{{.Status}}' | grep -c Ready)" = "$n" ]; do
  sleep 0.05
done
t_ready=$(now)
awk -v a="$t0" -v b="$t_engines" -v c="$t_ready" 'BEGIN { printf "engines=%.3f ready=%.3f\n", b - a, c - a }'
