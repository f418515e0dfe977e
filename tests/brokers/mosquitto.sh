#!/usr/bin/env bash
# A real mosquitto broker for the MQTT tests, on free local ports.
#
# Usage: mosquitto.sh start|stop|restart|status|check [RUNDIR]
#   start    install mosquitto if needed, make the PKI and password file, start
#            the broker in the background and print the env file (KEY=VALUE)
#            on stdout; progress goes to stderr. A no-op that re-prints the env
#            when it is already running.
#   stop     stop the broker this script started (found by its pid file).
#   restart  stop, then start on the same ports with the same persistence db
#            (for broker-restart tests); fails if a port was taken meanwhile.
#   status   print the env and exit 0 when running, exit 1 otherwise.
#   check    publish/subscribe through each listener with mosquitto_pub/sub.
#
# RUNDIR defaults to ${CARGO_TARGET_DIR:-<repo>/target}/brokers/mosquitto.
# RUNDIR/env holds:
#   MQTT_HOST  MQTT_PLAIN_PORT  MQTT_PASSWORD_PORT  MQTT_TLS_PORT  MQTT_MTLS_PORT
#   MQTT_WS_PORT  MQTT_WSS_PORT  MQTT_PKI_DIR  MQTT_CA  MQTT_CLIENT_CERT
#   MQTT_CLIENT_KEY  MQTT_USER  MQTT_PASSWORD  MQTT_USER2  MQTT_PASSWORD2
#   MQTT_RUNDIR  MQTT_LOG  MQTT_PID_FILE
# Listeners (all 127.0.0.1 except the websocket ones, which mosquitto 2.0.11
# binds on every interface whatever the config says):
#   plain     anonymous MQTT over TCP
#   password  user/password required (users sinet/sinet-pass, alice/alice-pass)
#   tls       TLS (server cert for localhost/127.0.0.1 from MQTT_CA), anonymous
#   mtls      TLS with a client certificate required; its CN becomes the user name
#   ws        MQTT over WebSocket, anonymous
#   wss       MQTT over WebSocket + TLS, user/password required
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
cmd=${1:-}
rundir=${2:-$target/brokers/mosquitto}
pki=$target/brokers/pki
host=127.0.0.1
listeners=(PLAIN PASSWORD TLS MTLS WS WSS)

say() { echo "mosquitto.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

install_mosquitto() {
  if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    if command -v mosquitto_pub >/dev/null 2>&1; then return; fi
  fi
  command -v apt-get >/dev/null 2>&1 || die "mosquitto is not installed and apt-get is not available"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing mosquitto and mosquitto-clients with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q mosquitto mosquitto-clients >"$rundir/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update once and retrying"
    $sudo apt-get update -q >>"$rundir/apt.log" 2>&1 || true
    $sudo apt-get install -y -q mosquitto mosquitto-clients >>"$rundir/apt.log" 2>&1 ||
      { tail -n 20 "$rundir/apt.log" >&2; die "cannot install mosquitto (log: $rundir/apt.log)"; }
  fi
  # The Debian package may start a system-wide broker on 1883 where an init
  # system runs; ours never uses that port, so it is left alone.
}

mosq_bin() {
  if command -v mosquitto >/dev/null 2>&1; then command -v mosquitto; else echo /usr/sbin/mosquitto; fi
}

# Prints N free TCP ports, one a line. The sockets are bound together so the
# ports are distinct; they are closed again before mosquitto binds them, so a
# race is possible but unlikely.
free_ports() {
  local n=$1
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("0.0.0.0", 0))  # the websocket listeners bind every interface
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
  else
    local found=0 p
    while [ $found -lt "$n" ]; do
      p=$((20000 + RANDOM % 40000))
      if ! port_open "$p"; then echo "$p"; found=$((found + 1)); fi
    done
  fi
}

port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

port_free() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
  else
    ! port_open "$1"
  fi
}

pid_alive() {
  local pid
  [ -f "$rundir/mosquitto.pid" ] || return 1
  pid=$(cat "$rundir/mosquitto.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our mosquitto with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$rundir/mosquitto.conf"
}

all_ports_answer() {
  local l p
  [ -f "$rundir/env" ] || return 1
  for l in "${listeners[@]}"; do
    p=$(sed -n "s/^MQTT_${l}_PORT=//p" "$rundir/env")
    [ -n "$p" ] && port_open "$p" || return 1
  done
}

write_config() {
  # $1..$6: ports in the order of ${listeners[@]}
  local tls="cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key"
  cat >"$rundir/mosquitto.conf" <<EOF
# Written by tests/brokers/mosquitto.sh; rewritten on every start.
per_listener_settings true
# Stay root: the PKI and RUNDIR live under the build tree, which the
# unprivileged mosquitto user may not be able to reach.
user root
pid_file $rundir/mosquitto.pid
persistence true
persistence_location $rundir/data/
# Saved on every stop (SIGTERM), which is all the restart tests need. Saving often stalls the
# single-threaded broker for as long as writing the file takes (megabytes of test sessions):
# ~15 ms a second showed up as a 1% tail in every latency benchmark.
autosave_interval 1800
# Sessions of test clients that never come back would pile up in that file.
persistent_client_expiration 1h
log_dest file $rundir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
max_keepalive 65535
# Persistent-session tests queue thousands of QoS 1/2 messages per client (default 1000).
max_queued_messages 100000

# plain
listener $1 $host
allow_anonymous true

# password
listener $2 $host
allow_anonymous false
password_file $rundir/passwd

# tls
listener $3 $host
allow_anonymous true
$tls

# mtls
listener $4 $host
allow_anonymous true
$tls
require_certificate true
use_identity_as_username true

# ws
listener $5
protocol websockets
allow_anonymous true

# wss
listener $6
protocol websockets
allow_anonymous false
password_file $rundir/passwd
$tls
EOF
}

write_env() {
  # $1..$6: ports in the order of ${listeners[@]}
  {
    echo "MQTT_HOST=$host"
    echo "MQTT_PLAIN_PORT=$1"
    echo "MQTT_PASSWORD_PORT=$2"
    echo "MQTT_TLS_PORT=$3"
    echo "MQTT_MTLS_PORT=$4"
    echo "MQTT_WS_PORT=$5"
    echo "MQTT_WSS_PORT=$6"
    echo "MQTT_PKI_DIR=$pki"
    echo "MQTT_CA=$pki/ca.pem"
    echo "MQTT_CLIENT_CERT=$pki/client.pem"
    echo "MQTT_CLIENT_KEY=$pki/client.key"
    echo "MQTT_USER=sinet"
    echo "MQTT_PASSWORD=sinet-pass"
    echo "MQTT_USER2=alice"
    echo "MQTT_PASSWORD2=alice-pass"
    echo "MQTT_RUNDIR=$rundir"
    echo "MQTT_LOG=$rundir/mosquitto.log"
    echo "MQTT_PID_FILE=$rundir/mosquitto.pid"
  } >"$rundir/env.tmp"
  mv "$rundir/env.tmp" "$rundir/env"
}

# Ports of the previous run, for restart; empty when unknown.
previous_ports() {
  local l p out=()
  [ -f "$rundir/env" ] || return 0
  for l in "${listeners[@]}"; do
    p=$(sed -n "s/^MQTT_${l}_PORT=//p" "$rundir/env")
    [ -n "$p" ] || return 0
    out+=("$p")
  done
  echo "${out[@]}"
}

do_stop() {
  local pid i
  if ! pid_alive; then
    rm -f "$rundir/mosquitto.pid"
    say "not running"
    return 0
  fi
  pid=$(cat "$rundir/mosquitto.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid did not stop on SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$rundir/mosquitto.pid"
  say "stopped (pid $pid)"
}

# $1 = "reuse" to insist on the previous ports (restart).
do_start() {
  local mode=${1:-} ports i p pid
  if pid_alive && all_ports_answer; then
    cat "$rundir/env"
    return 0
  fi
  pid_alive && do_stop
  install_mosquitto
  bash "$here/pki.sh" "$pki" || die "pki.sh $pki failed"

  # Password file, rebuilt every time (mosquitto_passwd -c truncates).
  rm -f "$rundir/passwd"
  touch "$rundir/passwd"
  mosquitto_passwd -b "$rundir/passwd" sinet sinet-pass
  mosquitto_passwd -b "$rundir/passwd" alice alice-pass
  chmod 0600 "$rundir/passwd"
  mkdir -p "$rundir/data"

  read -r -a ports <<<"$(previous_ports)"
  if [ ${#ports[@]} -eq ${#listeners[@]} ]; then
    for p in "${ports[@]}"; do
      if ! port_free "$p"; then
        [ "$mode" = reuse ] && die "port $p of the previous run is taken; cannot restart on the same ports"
        ports=()
        break
      fi
    done
  else
    [ "$mode" = reuse ] && die "no previous run in $rundir to restart"
    ports=()
  fi
  if [ ${#ports[@]} -ne ${#listeners[@]} ]; then
    mapfile -t ports < <(free_ports ${#listeners[@]})
  fi
  [ ${#ports[@]} -eq ${#listeners[@]} ] || die "could not pick ${#listeners[@]} free ports"

  write_config "${ports[@]}"
  # A restart appends, so that what happened around it stays readable.
  [ "$mode" = reuse ] || : >"$rundir/mosquitto.log"
  touch "$rundir/mosquitto.log"
  local start_line
  start_line=$(wc -l <"$rundir/mosquitto.log")
  # 9>&-: the daemon must not inherit (and so hold forever) the lock.
  "$(mosq_bin)" -c "$rundir/mosquitto.conf" -d 9>&- ||
    { tail -n 20 "$rundir/mosquitto.log" >&2; die "mosquitto failed to start (log: $rundir/mosquitto.log)"; }

  for i in $(seq 1 200); do
    local ok=1
    for p in "${ports[@]}"; do port_open "$p" || { ok=0; break; }; done
    if [ $ok = 1 ] && pid_alive; then
      write_env "${ports[@]}"
      say "running: pid $(cat "$rundir/mosquitto.pid"), env $rundir/env"
      cat "$rundir/env"
      return 0
    fi
    sleep 0.1
  done
  say "log tail ($rundir/mosquitto.log):"
  tail -n +$((start_line + 1)) "$rundir/mosquitto.log" | tail -n 30 >&2
  pid_alive && do_stop
  die "mosquitto did not accept connections on ports ${ports[*]} within 20 s"
}

do_status() {
  if pid_alive && all_ports_answer; then
    cat "$rundir/env"
    say "running (pid $(cat "$rundir/mosquitto.pid"))"
    return 0
  fi
  say "not running"
  return 1
}

# Round trip through one listener: subscribe, publish, expect the message.
roundtrip() {
  local name=$1; shift
  local topic="check/$name/$$" msg="hello-$name-$RANDOM" out
  out=$(mktemp)
  mosquitto_sub -h "$host" "$@" -t "$topic" -C 1 -W 10 >"$out" 2>&1 &
  local sub=$!
  sleep 0.5
  mosquitto_pub -h "$host" "$@" -t "$topic" -m "$msg" -q 1 || true
  wait "$sub" || true
  if grep -qx "$msg" "$out"; then
    say "check $name: ok"
    rm -f "$out"
    return 0
  fi
  say "check $name: FAILED: $(cat "$out")"
  rm -f "$out"
  return 1
}

do_check() {
  do_status >/dev/null || die "not running; run: $0 start"
  # shellcheck disable=SC1091
  . "$rundir/env"
  local fail=0
  roundtrip plain -p "$MQTT_PLAIN_PORT" || fail=1
  roundtrip password -p "$MQTT_PASSWORD_PORT" -u "$MQTT_USER" -P "$MQTT_PASSWORD" || fail=1
  if mosquitto_pub -h "$host" -p "$MQTT_PASSWORD_PORT" -u "$MQTT_USER" -P wrong -t x -m x 2>/dev/null; then
    say "check password (wrong password refused): FAILED"; fail=1
  else
    say "check password (wrong password refused): ok"
  fi
  roundtrip tls -p "$MQTT_TLS_PORT" --cafile "$MQTT_CA" || fail=1
  roundtrip mtls -p "$MQTT_MTLS_PORT" --cafile "$MQTT_CA" --cert "$MQTT_CLIENT_CERT" --key "$MQTT_CLIENT_KEY" || fail=1
  if mosquitto_pub -h "$host" -p "$MQTT_MTLS_PORT" --cafile "$MQTT_CA" -t x -m x 2>/dev/null; then
    say "check mtls (no client certificate refused): FAILED"; fail=1
  else
    say "check mtls (no client certificate refused): ok"
  fi
  # mosquitto's own clients cannot speak WebSocket: only check that the
  # ports answer (the Rust tests do the full exchange).
  port_open "$MQTT_WS_PORT" && say "check ws: port answers" || fail=1
  port_open "$MQTT_WSS_PORT" && say "check wss: port answers" || fail=1
  return $fail
}

case $cmd in
  start | stop | restart | status | check) ;;
  *) echo "usage: $0 start|stop|restart|status|check [RUNDIR]" >&2; exit 2 ;;
esac

mkdir -p "$rundir"
rundir=$(cd "$rundir" && pwd)
# One operation at a time: test binaries of several crates may start the
# harness concurrently.
exec 9>"$rundir/op.lock"
flock -w 120 9 || die "timed out waiting for the lock on $rundir/op.lock (held by: $(fuser "$rundir/op.lock" 2>/dev/null || echo unknown))"

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  restart) do_stop; do_start reuse ;;
  status) do_status ;;
  check) do_check ;;
esac
