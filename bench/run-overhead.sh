#!/usr/bin/env bash
# The overhead of `paige run SLUG -- /bin/true` with 10 and 100 secrets,
# against running /bin/true with the same variables set directly
# (`env K=V... /bin/true`). Medians from hyperfine -N (no shell). Also
# `paige projects list`: a one-shot paige's own floor (start, open the
# store, one read, close), which a `paige run` without a server pays
# before anything of its execution.
#
#   cargo build --release -p paige && bench/run-overhead.sh
#
# PAIGE=path/to/paige overrides the binary; RUNS (default 300) the runs per
# command. BASE=path/to/another/paige adds a comparison of the two builds'
# handed-off runs, alternated round after round by bench/alternate.py
# (ROUNDS, default 200), each client handing off to a `paige serve` of its
# own build: on a machine whose speed moves, the figures to compare. A
# server prepares the sandbox of a layout's next run from its second run
# on (runtime/sandbox_pool.rs): the warm-up and the first rounds cover
# the first two, so the handed-off rows are of runs that take one. The
# data dir is a fresh temporary one (set TMPDIR to put it on another file
# system: its fsync cost is part of the figure).
set -euo pipefail

cd "$(dirname "$0")/.."
PAIGE=${PAIGE:-${CARGO_TARGET_DIR:-target}/release/paige}
RUNS=${RUNS:-300}
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }
[ -x "$PAIGE" ] || { echo "no release binary at $PAIGE: cargo build --release -p paige" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PAIGE_DATA_DIR=$work/data
# Quiet, like a production run.
unset RUST_LOG

declare -A direct
for n in 10 100; do
  "$PAIGE" projects create "bench-$n" >/dev/null
  envfile=$work/bench-$n.env
  args=""
  for i in $(seq 1 "$n"); do
    # 40 random hex characters per value, like an API key.
    value=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "SECRET_$i=$value" >>"$envfile"
    args="$args SECRET_$i=$value"
  done
  "$PAIGE" secrets import "bench-$n" "$envfile" >/dev/null
  direct[$n]="env$args /bin/true"
done

# bubblewrap's own cost: bwrap with the layout paige gives a bot run from
# here (runtime/bwrap.rs; its generated /etc files from plain files, no
# info and block pipes, no cgroup), with the 100 variables, running
# /bin/true, then the same with the user switch paige adds as root. Like
# paige, it copies the regular files of /etc up to 128 KiB
# (ETC_COPY_MAX_BYTES; `--file N`, from descriptor N) and binds the rest;
# `$files` holds the redirections (`N<PATH`) that open them. hyperfine
# runs no shell, so its bwrap rows are
# `bash -c 'exec …'`, less a `bash -c 'exec /bin/true'` row;
# bench/alternate.py opens them itself.
etc=$work/etc && mkdir -p "$etc"
echo "paige:x:$(id -u):$(id -g):Paige bot:/tmp:/bin/sh" >"$etc/passwd"
echo "paige:x:$(id -g):" >"$etc/group"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$etc/nsswitch.conf"
bw="bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --die-with-parent --new-session"
[ "$(id -u)" = 0 ] || bw="$bw --unshare-user --disable-userns"
for d in /usr /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then bw="$bw --symlink $(readlink "$d") $d"; elif [ -d "$d" ]; then bw="$bw --ro-bind $d $d"; fi
done
bw="$bw --dir /etc"
fd=3 files=""
for e in /etc/ssl /etc/ca-certificates /etc/pki /etc/crypto-policies /etc/resolv.conf /etc/hosts /etc/host.conf \
  /etc/gai.conf /etc/services /etc/protocols /etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d /etc/alternatives \
  /etc/localtime /etc/mime.types; do
  if [ -f "$e" ] && [ -r "$e" ] && [ "$(stat -L -c %s "$e")" -le 131072 ]; then
    bw="$bw --perms 0444 --file $fd $e" files="$files $fd<$e" fd=$((fd + 1))
  else
    bw="$bw --ro-bind-try $e $e"
  fi
done
bw="$bw --proc /proc --dev /dev --perms 01777 --size 67108864 --tmpfs /tmp --perms 01777 --size 67108864 --tmpfs /dev/shm"
for f in passwd group nsswitch.conf; do
  bw="$bw --perms 0444 --file $fd /etc/$f" files="$files $fd<$etc/$f" fd=$((fd + 1))
done
here=$(pwd -P); parent=""
for p in $(echo "${here#/}" | tr / ' '); do parent="$parent/$p"; [ "$parent" = "$here" ] || bw="$bw --dir $parent"; done
bw="$bw --ro-bind $here $here --remount-ro / --chdir $here --cap-drop ALL"
# What paige puts between bwrap and the bot: as root, paige-start's switch
# to the project's user, run from a descriptor as paige does
# (runtime/bwrap.rs); otherwise nothing (bwrap's PWD is the platform's).
# `setpriv`, which did the switch before, is measured beside it.
switch="" setpriv=""
if [ "$(id -u)" = 0 ]; then
  start=$(dirname "$PAIGE")/paige-start
  [ -x "$start" ] || { echo "no $start beside $PAIGE: cargo build --release -p paige" >&2; exit 1; }
  bw="$bw --cap-add CAP_SETUID --cap-add CAP_SETGID --cap-add CAP_SETPCAP"
  switch="/proc/self/fd/$fd 200001 200001" files="$files $fd<$start" fd=$((fd + 1))
  setpriv="/usr/bin/setpriv --reuid=200001 --regid=200001 --clear-groups --inh-caps=-all --bounding-set=-all --"
fi

# The same store served: a copy of the data dir with `paige serve` on it,
# to which `paige run` hands its executions (cli/run_socket).
cp -r "$work/data" "$work/served"
"$PAIGE" --data-dir "$work/served" serve --listen 127.0.0.1:0 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$work/served/run.sock" ] && break; sleep 0.05; done
[ -S "$work/served/run.sock" ] || { cat "$work/serve.log" >&2; echo "paige serve did not open its run socket" >&2; exit 1; }

json=$work/results.json
hyperfine -N --warmup 30 --runs "$RUNS" --export-json "$json" \
  -n "/bin/true" "/bin/true" \
  -n "env K=V (10) /bin/true" "${direct[10]}" \
  -n "paige run (10 secrets) -- /bin/true" "$PAIGE run bench-10 -- /bin/true" \
  -n "env K=V (100) /bin/true" "${direct[100]}" \
  -n "bash -c 'exec /bin/true'" "bash -c 'exec /bin/true'" \
  -n "bwrap (100) /bin/true" "${direct[100]/ \/bin\/true/} bash -c 'exec $bw -- /bin/true $files'" \
  -n "bwrap (100) + user switch /bin/true" "${direct[100]/ \/bin\/true/} bash -c 'exec $bw -- $switch /bin/true $files'" \
  -n "paige run (100 secrets) -- /bin/true" "$PAIGE run bench-100 -- /bin/true" \
  -n "paige run via serve (100) -- /bin/true" "$PAIGE --data-dir $work/served run bench-100 -- /bin/true" \
  -n "paige projects list" "$PAIGE projects list" \
  >/dev/null

python3 - "$json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print(f"{'command':40} {'median':>9} {'mean':>9} {'min':>9} {'p90':>9}")
for r in results:
    times = sorted(r["times"])
    p90 = times[int(len(times) * 0.9)]
    print(f"{r['command']:40} {r['median']*1e3:8.2f}ms {r['mean']*1e3:8.2f}ms {r['min']*1e3:8.2f}ms {p90*1e3:8.2f}ms")
by = {r["command"]: r["median"] for r in results}
for n in (10, 100):
    paige, direct = by[f"paige run ({n} secrets) -- /bin/true"], by[f"env K=V ({n}) /bin/true"]
    print(f"{n:>3} secrets: paige run {paige*1e3:.2f} ms, direct {direct*1e3:.2f} ms, "
          f"overhead {(paige-direct)*1e3:.2f} ms, ratio {paige/direct:.2f}x")
# bwrap's own cost: bwrap running /bin/true against /bin/true, each
# started by `bash -c 'exec …'`; the goal is paige <= the floor + that + 1 ms.
true_, floor = by["bash -c 'exec /bin/true'"], by["env K=V (100) /bin/true"]
bwrap, switched = by["bwrap (100) /bin/true"], by["bwrap (100) + user switch /bin/true"]
paige = by["paige run (100 secrets) -- /bin/true"]
own, own_switched = bwrap - true_, switched - true_
print(f"bwrap's own cost {own*1e3:.2f} ms ({own_switched*1e3:.2f} ms with paige's user switch); "
      f"goal floor + bwrap + 1 ms = {(floor+own)*1e3+1:.2f} ms ({(floor+own_switched)*1e3+1:.2f} ms); "
      f"paige run is {(paige-floor-own)*1e3:.2f} ms ({(paige-floor-own_switched)*1e3:.2f} ms) over floor + bwrap")
# A one-shot process's own floor: start, open the store, one read, close
# (nothing written, no sandbox); what it costs over /bin/true is spent
# before `paige run` does anything of an execution's.
one_shot = by["paige projects list"] - by["/bin/true"]
print(f"a one-shot paige's own floor (projects list over /bin/true): {one_shot*1e3:.2f} ms "
      f"of the goal's 1 ms")
served = by["paige run via serve (100) -- /bin/true"]
print(f"handed to paige serve: {served*1e3:.2f} ms, {(served-floor-own)*1e3:.2f} ms "
      f"({(served-floor-own_switched)*1e3:.2f} ms) over floor + bwrap; {served/paige:.2f}x paige run alone")
PY

if [ -n "${BASE:-}" ]; then
  cp -r "$work/data" "$work/served-base"
  "$BASE" --data-dir "$work/served-base" serve --listen 127.0.0.1:0 >"$work/serve-base.log" 2>&1 &
  base_server=$!
  trap 'kill $server $base_server 2>/dev/null; wait $server $base_server 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 100); do [ -S "$work/served-base/run.sock" ] && break; sleep 0.05; done
  [ -S "$work/served-base/run.sock" ] || { cat "$work/serve-base.log" >&2; echo "BASE's paige serve did not open its run socket" >&2; exit 1; }
  echo "alternated, ${ROUNDS:-200} rounds: BASE=$BASE against PAIGE=$PAIGE, each handed to its own paige serve"
  bench/alternate.py --rounds "${ROUNDS:-200}" \
    /bin/true /bin/true \
    floor "${direct[100]}" \
    bwrap "${direct[100]/ \/bin\/true/} $bw -- $switch /bin/true $files" \
    bwrap-alone "${direct[100]/ \/bin\/true/} $bw -- /bin/true $files" \
    bwrap-setpriv "${direct[100]/ \/bin\/true/} $bw -- $setpriv /bin/true $files" \
    base "$BASE --data-dir $work/served-base run bench-100 -- /bin/true" \
    this "$PAIGE --data-dir $work/served run bench-100 -- /bin/true" | tee "$work/alternated.txt"
  python3 - "$work/alternated.txt" <<'PY'
import sys
median = {line.split()[0]: float(line.split()[2]) for line in open(sys.argv[1])}
own = median["bwrap"] - median["/bin/true"]
alone = median["bwrap-alone"] - median["/bin/true"]
print(f"user switch: paige-start {median['bwrap'] - median['bwrap-alone']:.2f} ms, "
      f"setpriv {median['bwrap-setpriv'] - median['bwrap-alone']:.2f} ms")
for name in ("base", "this"):
    print(f"{name}: {median[name] - median['floor'] - own:.2f} ms over floor + bwrap with paige-start, "
          f"{median[name] - median['floor'] - alone:.2f} ms over floor + bwrap alone (goal 1 ms)")
PY
fi
