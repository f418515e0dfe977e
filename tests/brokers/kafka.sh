#!/usr/bin/env bash
# Runs genuine Apache Kafka (KRaft, broker+controller in one JVM) for the integration tests.
# The jars come from Maven Central through tests/brokers/kafka/pom.xml and are cached per
# version in TARGET/brokers/kafka-jars/<version>/ (TARGET = $CARGO_TARGET_DIR or <repo>/target).
#
# Usage:
#   kafka.sh start|stop|status|restart|env [single|cluster]   (default: single)
#   kafka.sh stop-node N | start-node N                      (cluster mode, N = 1..3)
#   kafka.sh tool CLASS|ALIAS [ARGS...]                       run a Java class with Kafka's classpath
#     ALIAS: console-producer console-consumer producer-perf consumer-perf topics consumer-groups
#            get-offsets metadata-quorum configs api-versions storage (right class per version)
#
#   single   one node; listeners PLAINTEXT, SSL, MTLS (SSL + client auth required),
#            SASL_PLAINTEXT and SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), SASL_REAUTH
#            (SASL_PLAINTEXT whose sessions last REAUTH_MS, for KIP-368), CONTROLLER
#   cluster  three nodes, PLAINTEXT only, replication factor 3, min.insync.replicas 2
#
# `start` prints the env (KEY=value lines, also kept in RUNDIR/env) on stdout; progress goes to
# stderr. Run dir: TARGET/brokers/kafka/<mode>. Ports are picked once and kept there; data too.
#
# Environment: KAFKA_VERSION (default below; 3.9.x and 4.x work), KAFKA_START_TIMEOUT (90 s),
# KAFKA_STOP_TIMEOUT (30 s), KAFKA_HEAP_OPTS (broker heap), KAFKA_TOOL_OPTS (JVM options of
# `tool`), JAVA_HOME or JAVA.
set -euo pipefail

DEFAULT_KAFKA_VERSION=4.4.0 # newest 4.x on Maven Central when this was written

die() {
  echo "kafka.sh: error: $*" >&2
  exit 1
}
say() { echo "kafka.sh: $*" >&2; }
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo_root/target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
brokers=$target/brokers
pki_dir=$brokers/pki
kafka_root=$brokers/kafka
conf_dir=$here/kafka

version_explicit=${KAFKA_VERSION:+yes}
KAFKA_VERSION=${KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

if [ -n "${JAVA:-}" ]; then
  :
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  JAVA=$JAVA_HOME/bin/java
else
  JAVA=java
fi

SASL_USER=sinet
SASL_PASSWORD=sinet-pass
SASL_USER2=alice
SASL_PASSWORD2=alice-pass
SINGLE_PORTS=(PLAINTEXT SSL MTLS SASL_PLAINTEXT SASL_SSL SASL_REAUTH CONTROLLER)
# The SASL_REAUTH listener (SASL_PLAINTEXT) limits SASL sessions to this long, so that tests see
# clients re-authenticate (KIP-368) or lose their connections.
REAUTH_MS=3000
CLUSTER_PORTS=(NODE_1 NODE_2 NODE_3 CONTROLLER_1 CONTROLLER_2 CONTROLLER_3)

# ---------------------------------------------------------------- versions, jars, classpath

check_version() { # version
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9.-]+)?$ ]] ||
    die "KAFKA_VERSION='$1' is not a Kafka version such as $DEFAULT_KAFKA_VERSION or 3.9.1"
  local major=${1%%.*} rest=${1#*.}
  local minor=${rest%%.*}
  if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 9 ]; }; then
    die "KAFKA_VERSION=$1 is not supported (3.9.x or 4.x)"
  fi
}
major_of() { echo "${1%%.*}"; }

check_java() { # kafka version
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (install openjdk-17-jre-headless or set JAVA_HOME)"
  local line jmaj
  line=$("$JAVA" -version 2>&1 | sed -n 1p)
  jmaj=$(sed -E 's/.*version "([0-9]+)(\.[0-9]+)*.*/\1/' <<<"$line")
  [ "$jmaj" = 1 ] && jmaj=8
  [[ $jmaj =~ ^[0-9]+$ ]] || die "cannot tell the Java version from: $line"
  local need=11
  [ "$(major_of "$1")" -ge 4 ] && need=17
  [ "$jmaj" -ge "$need" ] || die "Kafka $1 needs Java $need or newer; $JAVA is: $line"
}

jars_dir() { echo "$brokers/kafka-jars/$1"; }

m2_usable() {
  [ -n "${HOME:-}" ] && mkdir -p "$HOME/.m2/repository" 2>/dev/null && [ -w "$HOME/.m2/repository" ]
}

ensure_jars() { # version
  local v=$1 dir
  dir=$(jars_dir "$v")
  [ -f "$dir/.complete" ] && return 0
  mkdir -p "$brokers/kafka-jars"
  (
    flock -w 900 8 || die "timed out waiting for another kafka.sh fetching jars"
    [ -f "$dir/.complete" ] && exit 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven); needed once to fetch the Kafka $v jars"
    local profile=kafka4 repo_args=() tmp=$dir.tmp.$$ log=$brokers/kafka-jars/mvn-$v.log
    [ "$(major_of "$v")" -lt 4 ] && profile=kafka3
    if ! m2_usable; then
      repo_args=("-Dmaven.repo.local=$brokers/m2-repository")
      say "~/.m2 is not usable; using the Maven repository $brokers/m2-repository"
    fi
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "fetching Apache Kafka $v from Maven Central into $dir"
    if ! mvn -q -B -f "$conf_dir/pom.xml" "${repo_args[@]}" -P"$profile" \
      -Dkafka.version="$v" -Dkafka.build.dir="$brokers/kafka-mvn" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      rm -rf "$tmp"
      die "mvn could not fetch Apache Kafka $v (is it a released version on Maven Central?); log: $log"
    fi
    [ -f "$tmp/kafka_2.13-$v.jar" ] && [ -f "$tmp/kafka-tools-$v.jar" ] ||
      die "mvn ran but $tmp lacks kafka_2.13-$v.jar or kafka-tools-$v.jar"
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
  ) 8>"$brokers/kafka-jars/.lock"
}

classpath() { # version
  local cp
  cp=$(printf '%s:' "$(jars_dir "$1")"/*.jar)
  echo "${cp%:}"
}

# Tool class of an alias for a version (the console producer moved in 4.0).
tool_class() { # alias version
  local m
  m=$(major_of "$2")
  case $1 in
  console-producer) if [ "$m" -ge 4 ]; then echo org.apache.kafka.tools.ConsoleProducer; else echo kafka.tools.ConsoleProducer; fi ;;
  console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  producer-perf) echo org.apache.kafka.tools.ProducerPerformance ;;
  consumer-perf) echo org.apache.kafka.tools.ConsumerPerformance ;;
  topics) echo org.apache.kafka.tools.TopicCommand ;;
  consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
  metadata-quorum) echo org.apache.kafka.tools.MetadataQuorumCommand ;;
  configs) if [ "$m" -ge 4 ]; then echo org.apache.kafka.tools.ConfigCommand; else echo kafka.admin.ConfigCommand; fi ;;
  api-versions) if [ "$m" -ge 4 ]; then echo org.apache.kafka.tools.BrokerApiVersionsCommand; else echo kafka.admin.BrokerApiVersionsCommand; fi ;;
  storage) echo kafka.tools.StorageTool ;;
  *) echo "$1" ;;
  esac
}

# JVM options of the command-line tools: small heap, warnings to stderr.
tool_jvm_opts() { # version
  # shellcheck disable=SC2086 # KAFKA_TOOL_OPTS is a list of options
  printf '%s\n' ${KAFKA_TOOL_OPTS:--Xmx512m -XX:+UseSerialGC}
  if [ "$(major_of "$1")" -ge 4 ]; then
    echo "-Dlog4j2.configurationFile=$conf_dir/log4j2-tools.properties"
  else
    echo "-Dlog4j.configuration=file:$conf_dir/log4j-tools.properties"
  fi
}

run_tool() { # version class args...
  local v=$1 cls=$2
  shift 2
  local opts=()
  mapfile -t opts < <(tool_jvm_opts "$v")
  "$JAVA" "${opts[@]}" -cp "$(classpath "$v")" "$(tool_class "$cls" "$v")" "$@"
}

# ---------------------------------------------------------------- ports, processes, probes

port_busy() { # port: something accepts connections on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_ports() { # count: prints that many free ports, none used by another kafka.sh run dir
  local n=$1 avoid=()
  local f
  for f in "$kafka_root"/*/ports; do
    [ -f "$f" ] && mapfile -t -O "${#avoid[@]}" avoid < <(cut -d= -f2 "$f")
  done
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" "${avoid[@]}" <<'EOF'
import random, socket, sys
n = int(sys.argv[1]); avoid = {int(a) for a in sys.argv[2:] if a.isdigit()}
rnd = random.SystemRandom(); out = []
while len(out) < n:
    p = rnd.randrange(20000, 32000)  # below the ephemeral range, so no client grabs it later
    if p in avoid or p in out:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    out.append(p)
print(" ".join(map(str, out)))
EOF
  else
    local out=() p tries=0
    while [ "${#out[@]}" -lt "$n" ]; do
      tries=$((tries + 1))
      [ "$tries" -lt 10000 ] || die "could not find $n free ports"
      p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
      [[ " ${avoid[*]} ${out[*]} " == *" $p "* ]] && continue
      port_busy "$p" && continue
      if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then continue; fi
      out+=("$p")
    done
    echo "${out[*]}"
  fi
}

declare -A PORT=()
load_ports() { # run dir
  PORT=()
  local k v
  while IFS='=' read -r k v; do
    [ -n "$k" ] && PORT[$k]=$v
  done <"$1/ports"
}

# Pick (or keep) the ports of a run dir. Picks new ones only when the dir has none, or when a
# kept one is taken by a foreign process and none of our nodes runs (so nobody knows the old ones).
ensure_ports() { # run dir, names...
  local run=$1
  shift
  local names=("$@") n busy=()
  if [ -f "$run/ports" ]; then
    load_ports "$run"
    local ok=1
    for n in "${names[@]}"; do [ -n "${PORT[$n]:-}" ] || ok=0; done
    if [ "$ok" = 1 ]; then
      any_node_running "$run" && return 0 # they are ours
      for n in "${names[@]}"; do port_busy "${PORT[$n]}" && busy+=("$n=${PORT[$n]}"); done
      [ "${#busy[@]}" -eq 0 ] && return 0
      say "kept ports ${busy[*]} are taken by another process; picking new ports"
    elif any_node_running "$run"; then
      die "$run/ports is incomplete while a node runs; run '$0 stop' first"
    fi
  fi
  local ports=()
  read -r -a ports <<<"$(pick_ports "${#names[@]}")"
  [ "${#ports[@]}" -eq "${#names[@]}" ] || die "could not pick ${#names[@]} free ports"
  local i tmp=$run/ports.tmp
  : >"$tmp"
  for i in "${!names[@]}"; do echo "${names[$i]}=${ports[$i]}" >>"$tmp"; done
  mv "$tmp" "$run/ports"
  load_ports "$run"
}

node_pid() { # node dir: prints the pid of our live broker there
  local d=$1 pid
  [ -f "$d/kafka.pid" ] || return 1
  pid=$(cat "$d/kafka.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  # guard against a recycled pid: must be our kafka.Kafka with our server.properties
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *" kafka.Kafka $d/server.properties"* ]] || return 1
  echo "$pid"
}

any_node_running() { # run dir
  local d
  for d in "$1" "$1"/node*; do
    [ -d "$d" ] && node_pid "$d" >/dev/null && return 0
  done
  return 1
}

# A real Kafka request: ApiVersions v0 on a PLAINTEXT port; true when the broker answers it
# (it does so only once it has caught up with the metadata and serves requests).
broker_answers() { # port
  local out
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00" >&3
    head -c 8 <&3 | od -An -tx1' _ "$1" 2>/dev/null) || return 1
  local b
  read -r -a b <<<"$(echo $out)"
  [ "${#b[@]}" -eq 8 ] && [ "${b[4]}${b[5]}${b[6]}${b[7]}" = 00000001 ]
}

log_tail() { # node dir
  local d=$1
  {
    if grep -qE ' (ERROR|FATAL) ' "$d/logs/server.log" 2>/dev/null; then
      echo "---- first errors in $d/logs/server.log ----"
      grep -E -A3 ' (ERROR|FATAL) ' "$d/logs/server.log" | sed -n 1,20p || true
    fi
    echo "---- last lines of $d/logs/server.log ----"
    tail -n 25 "$d/logs/server.log" 2>/dev/null || echo "(no server.log)"
    echo "---- last lines of $d/logs/stdout.log ----"
    tail -n 20 "$d/logs/stdout.log" 2>/dev/null || echo "(no stdout.log)"
    echo "----"
  } >&2
}

# Starts kafka.Kafka in the background for a node dir (its server.properties must exist).
launch_node() { # node dir, version, heap options
  local d=$1 v=$2 heap=$3 logopt
  mkdir -p "$d/logs"
  if [ "$(major_of "$v")" -ge 4 ]; then
    logopt=-Dlog4j2.configurationFile=$conf_dir/log4j2-server.properties
  else
    logopt=-Dlog4j.configuration=file:$conf_dir/log4j-server.properties
  fi
  # this start's logs only, so the tail shown on failure is about it
  local f
  for f in server.log stdout.log; do
    [ -f "$d/logs/$f" ] && mv -f "$d/logs/$f" "$d/logs/previous-$f"
  done
  rm -f "$d/logs/server.log."[0-9]*
  echo "==== $(date '+%F %T') starting Apache Kafka $v" >"$d/logs/stdout.log"
  local opts=()
  read -r -a opts <<<"$heap"
  # fd 9 (our lock) must not leak into the broker, or the next kafka.sh would wait for it.
  nohup "$JAVA" "${opts[@]}" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$d/logs" "$logopt" -cp "$(classpath "$v")" \
    kafka.Kafka "$d/server.properties" >>"$d/logs/stdout.log" 2>&1 </dev/null 9>&- &
  local pid=$! i
  echo "$pid" >"$d/kafka.pid"
  # until the child has exec'd java, its command line is still ours
  for i in $(seq 50); do
    node_pid "$d" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  node_pid "$d" >/dev/null || {
    log_tail "$d"
    die "the Kafka broker of $d did not start (see the log above)"
  }
}

wait_node_ready() { # node dir, plaintext port, deadline (SECONDS), other ports...
  local d=$1 port=$2 deadline=$3
  shift 3
  local p
  while :; do
    if ! node_pid "$d" >/dev/null; then
      log_tail "$d"
      die "the Kafka broker of $d exited during startup (see the log above)"
    fi
    if broker_answers "$port"; then
      local all=1
      for p in "$@"; do port_busy "$p" || all=0; done
      [ "$all" = 1 ] && return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$d"
      stop_pids "$d" # useless as it is; leave nothing behind
      die "the Kafka broker of $d did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s (see the log above; it was stopped)"
    fi
    sleep 0.5
  done
}

stop_pids() { # node dirs...: SIGTERM all, wait, SIGKILL the ones left after STOP_TIMEOUT
  local d pid
  local -A pids=()
  for d in "$@"; do
    if pid=$(node_pid "$d"); then
      pids[$d]=$pid
      kill -TERM "$pid" 2>/dev/null || true
      say "stopping $(basename "$d") (pid $pid)"
    else
      rm -f "$d/kafka.pid"
    fi
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while [ "${#pids[@]}" -gt 0 ]; do
    for d in "${!pids[@]}"; do
      if ! node_pid "$d" >/dev/null; then
        unset "pids[$d]"
        rm -f "$d/kafka.pid"
      fi
    done
    [ "${#pids[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      for d in "${!pids[@]}"; do
        say "$(basename "$d") (pid ${pids[$d]}) did not stop within ${STOP_TIMEOUT}s; killing it"
        kill -KILL "${pids[$d]}" 2>/dev/null || true
      done
      deadline=$((SECONDS + 10))
      STOP_TIMEOUT=10
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------- configuration

random_uuid() { # a Kafka Uuid: 16 random bytes, URL-safe base64 without padding
  local u
  while :; do
    u=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $u == -* ]] || break
  done
  echo "$u"
}

write_tls_and_clients() { # run dir
  local run=$1
  mkdir -p "$run/tls" "$run/client"
  cat "$pki_dir/server.key" "$pki_dir/server.pem" >"$run/tls/server-keystore.pem"
  cat "$pki_dir/client.key" "$pki_dir/client.pem" >"$run/tls/client-keystore.pem"
  chmod 0644 "$run/tls/"*.pem
  local c=$run/client
  printf 'security.protocol=PLAINTEXT\n' >"$c/plaintext.properties"
  local trust="ssl.truststore.type=PEM
ssl.truststore.location=$pki_dir/ca.pem"
  printf 'security.protocol=SSL\n%s\n' "$trust" >"$c/ssl.properties"
  printf 'security.protocol=SSL\n%s\nssl.keystore.type=PEM\nssl.keystore.location=%s\n' \
    "$trust" "$run/tls/client-keystore.pem" >"$c/mtls.properties"
  local proto mech module f
  for proto in sasl_plaintext sasl_ssl; do
    for mech in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
      module=org.apache.kafka.common.security.scram.ScramLoginModule
      [ "$mech" = PLAIN ] && module=org.apache.kafka.common.security.plain.PlainLoginModule
      f=$c/$proto-$(tr 'A-Z' 'a-z' <<<"$mech").properties
      {
        echo "security.protocol=$(tr 'a-z' 'A-Z' <<<"$proto")"
        echo "sasl.mechanism=$mech"
        echo "sasl.jaas.config=$module required username=\"$SASL_USER\" password=\"$SASL_PASSWORD\";"
        [ "$proto" = sasl_ssl ] && echo "$trust"
      } >"$f"
    done
  done
}

common_broker_props() { # data dir
  cat <<EOF
log.dirs=$1
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
# No time-based retention: tests write records with fixed timestamps years in the past,
# which the first retention check (5 min after start) would delete under a 24 h rule.
log.retention.ms=-1
EOF
}

write_single_props() { # run dir
  local run=$1
  local P=${PORT[PLAINTEXT]} S=${PORT[SSL]} M=${PORT[MTLS]} SP=${PORT[SASL_PLAINTEXT]} SS=${PORT[SASL_SSL]} SR=${PORT[SASL_REAUTH]} C=${PORT[CONTROLLER]}
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$SASL_USER\" password=\"$SASL_PASSWORD\" user_$SASL_USER=\"$SASL_PASSWORD\" user_$SASL_USER2=\"$SASL_PASSWORD2\";"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  {
    cat <<EOF
# Written by tests/brokers/kafka.sh at every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$C
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$P,SSL://127.0.0.1:$S,MTLS://127.0.0.1:$M,SASL_PLAINTEXT://127.0.0.1:$SP,SASL_SSL://127.0.0.1:$SS,SASL_REAUTH://127.0.0.1:$SR,CONTROLLER://127.0.0.1:$C
advertised.listeners=PLAINTEXT://127.0.0.1:$P,SSL://localhost:$S,MTLS://localhost:$M,SASL_PLAINTEXT://127.0.0.1:$SP,SASL_SSL://localhost:$SS,SASL_REAUTH://127.0.0.1:$SR
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SASL_REAUTH:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    common_broker_props "$run/data"
    cat <<EOF
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

ssl.keystore.type=PEM
ssl.keystore.location=$run/tls/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$pki_dir/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_reauth.plain.sasl.jaas.config=$plain
listener.name.sasl_reauth.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_reauth.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_reauth.plain.connections.max.reauth.ms=$REAUTH_MS
listener.name.sasl_reauth.scram-sha-256.connections.max.reauth.ms=$REAUTH_MS
listener.name.sasl_reauth.scram-sha-512.connections.max.reauth.ms=$REAUTH_MS
EOF
  } >"$run/server.properties"
}

write_cluster_props() { # run dir, node number
  local run=$1 n=$2 d=$1/node$2
  mkdir -p "$d"
  local voters="1@127.0.0.1:${PORT[CONTROLLER_1]},2@127.0.0.1:${PORT[CONTROLLER_2]},3@127.0.0.1:${PORT[CONTROLLER_3]}"
  local P=${PORT[NODE_$n]} C=${PORT[CONTROLLER_$n]}
  {
    cat <<EOF
# Written by tests/brokers/kafka.sh at every start; edits are lost.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$P,CONTROLLER://127.0.0.1:$C
advertised.listeners=PLAINTEXT://127.0.0.1:$P
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
    common_broker_props "$d/data"
    cat <<EOF
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
EOF
  } >"$d/server.properties"
}

format_node() { # node dir, version, cluster id, extra StorageTool args...
  local d=$1 v=$2 cid=$3
  shift 3
  [ -f "$d/data/meta.properties" ] && return 0
  rm -rf "$d/data"
  mkdir -p "$d/data" "$d/logs"
  say "formatting $d/data (Kafka $v, cluster id $cid)"
  if ! run_tool "$v" kafka.tools.StorageTool format --config "$d/server.properties" \
    --cluster-id "$cid" "$@" >"$d/logs/format.log" 2>&1; then
    cat "$d/logs/format.log" >&2
    rm -rf "$d/data"
    die "formatting the storage of $d failed (see above)"
  fi
}

# Decides the version for a run dir: the running one if any (an explicit different
# KAFKA_VERSION is then an error), else KAFKA_VERSION.
decide_version() { # run dir
  local run=$1 old=
  [ -f "$run/version" ] && old=$(cat "$run/version")
  if [ -n "$old" ] && [ "$old" != "$KAFKA_VERSION" ] && any_node_running "$run"; then
    [ -n "$version_explicit" ] && die "Kafka $old is running in $run; stop it before starting KAFKA_VERSION=$KAFKA_VERSION"
    KAFKA_VERSION=$old
  fi
  return 0
}

# Records the version of a run dir (once its jars are there); wipes data formatted by another
# version, since formatted storage is not backward compatible.
apply_version() { # run dir
  local run=$1 old=
  [ -f "$run/version" ] && old=$(cat "$run/version")
  if [ -n "$old" ] && [ "$old" != "$KAFKA_VERSION" ]; then
    say "$run held data of Kafka $old; reformatting for $KAFKA_VERSION"
    rm -rf "$run/data" "$run"/node*/data "$run/cluster-id"
  fi
  echo "$KAFKA_VERSION" >"$run/version"
}

# ---------------------------------------------------------------- env

write_env() { # mode, run dir
  local mode=$1 run=$2 v=$KAFKA_VERSION
  local f=$run/env.tmp
  {
    echo "KAFKA_MODE=$mode"
    echo "KAFKA_VERSION=$v"
    if [ "$mode" = single ]; then
      echo "KAFKA_PLAINTEXT=127.0.0.1:${PORT[PLAINTEXT]}"
      echo "KAFKA_SSL=localhost:${PORT[SSL]}"
      echo "KAFKA_MTLS=localhost:${PORT[MTLS]}"
      echo "KAFKA_SASL_PLAINTEXT=127.0.0.1:${PORT[SASL_PLAINTEXT]}"
      echo "KAFKA_SASL_SSL=localhost:${PORT[SASL_SSL]}"
      echo "KAFKA_SASL_REAUTH=127.0.0.1:${PORT[SASL_REAUTH]}"
      echo "KAFKA_SASL_REAUTH_MS=$REAUTH_MS"
      echo "KAFKA_CONTROLLER=127.0.0.1:${PORT[CONTROLLER]}"
      echo "KAFKA_SASL_MECHANISMS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
      echo "KAFKA_USER=$SASL_USER"
      echo "KAFKA_PASSWORD=$SASL_PASSWORD"
      echo "KAFKA_USER2=$SASL_USER2"
      echo "KAFKA_PASSWORD2=$SASL_PASSWORD2"
      echo "KAFKA_PKI_DIR=$pki_dir"
      echo "KAFKA_CA=$pki_dir/ca.pem"
      echo "KAFKA_CLIENT_CERT=$pki_dir/client.pem"
      echo "KAFKA_CLIENT_KEY=$pki_dir/client.key"
      echo "KAFKA_CLIENT_CONFIG_DIR=$run/client"
      echo "KAFKA_LOG=$run/logs/server.log"
    else
      echo "KAFKA_CLUSTER_BOOTSTRAP=127.0.0.1:${PORT[NODE_1]},127.0.0.1:${PORT[NODE_2]},127.0.0.1:${PORT[NODE_3]}"
      local n
      for n in 1 2 3; do echo "KAFKA_NODE_$n=127.0.0.1:${PORT[NODE_$n]}"; done
    fi
    echo "KAFKA_RUN_DIR=$run"
    echo "KAFKA_CONSOLE_PRODUCER_CLASS=$(tool_class console-producer "$v")"
    echo "KAFKA_CONSOLE_CONSUMER_CLASS=$(tool_class console-consumer "$v")"
    echo "KAFKA_PRODUCER_PERF_CLASS=$(tool_class producer-perf "$v")"
    echo "KAFKA_CONSUMER_PERF_CLASS=$(tool_class consumer-perf "$v")"
    echo "KAFKA_TOPIC_COMMAND_CLASS=$(tool_class topics "$v")"
    echo "KAFKA_CLASSPATH=$(classpath "$v")"
  } >"$f"
  mv "$f" "$run/env"
}

# ---------------------------------------------------------------- commands

lock_mode() { # mode
  mkdir -p "$kafka_root"
  exec 9>"$kafka_root/.lock-$1"
  flock -w 900 9 || die "timed out waiting for another kafka.sh working on $1"
}

prepare_common() {
  check_version "$KAFKA_VERSION"
  check_java "$KAFKA_VERSION"
  ensure_jars "$KAFKA_VERSION"
}

start_single() {
  local run=$kafka_root/single
  mkdir -p "$run/logs"
  decide_version "$run"
  prepare_common
  any_node_running "$run" || apply_version "$run"
  ensure_ports "$run" "${SINGLE_PORTS[@]}"
  if node_pid "$run" >/dev/null && broker_answers "${PORT[PLAINTEXT]}"; then
    say "single: already running (pid $(node_pid "$run"), Kafka $KAFKA_VERSION)"
    write_env single "$run"
    cat "$run/env"
    return 0
  fi
  if node_pid "$run" >/dev/null; then
    # alive but not answering (still starting, or hung): give it the usual time
    say "single: process alive but not answering yet; waiting"
  else
    command -v openssl >/dev/null 2>&1 || die "openssl not found (needed for the test PKI)"
    bash "$here/pki.sh" "$pki_dir" || die "making the test PKI in $pki_dir failed"
    write_tls_and_clients "$run"
    write_single_props "$run"
    local cid
    [ -f "$run/cluster-id" ] || random_uuid >"$run/cluster-id"
    cid=$(cat "$run/cluster-id")
    format_node "$run" "$KAFKA_VERSION" "$cid" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER2,password=$SASL_PASSWORD2]" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER2,password=$SASL_PASSWORD2]"
    say "single: starting Apache Kafka $KAFKA_VERSION (PLAINTEXT 127.0.0.1:${PORT[PLAINTEXT]})"
    launch_node "$run" "$KAFKA_VERSION" "${KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}"
  fi
  wait_node_ready "$run" "${PORT[PLAINTEXT]}" $((SECONDS + START_TIMEOUT)) \
    "${PORT[SSL]}" "${PORT[MTLS]}" "${PORT[SASL_PLAINTEXT]}" "${PORT[SASL_SSL]}" "${PORT[SASL_REAUTH]}"
  write_env single "$run"
  say "single: ready after ${SECONDS}s; env in $run/env"
  cat "$run/env"
}

cluster_prepare() { # -> PORT loaded, props written, storage formatted
  local run=$kafka_root/cluster
  mkdir -p "$run"
  decide_version "$run"
  prepare_common
  any_node_running "$run" || apply_version "$run"
  ensure_ports "$run" "${CLUSTER_PORTS[@]}"
  [ -f "$run/cluster-id" ] || random_uuid >"$run/cluster-id"
  local n cid
  cid=$(cat "$run/cluster-id")
  local pids=() failed=0 pid
  for n in 1 2 3; do
    if ! node_pid "$run/node$n" >/dev/null; then
      write_cluster_props "$run" "$n"
      format_node "$run/node$n" "$KAFKA_VERSION" "$cid" & # three JVMs at once: quicker
      pids+=($!)
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || die "formatting the cluster storage failed (see above)"
}

start_cluster() { # [node numbers to start; default all]
  local run=$kafka_root/cluster nodes=("$@")
  [ "${#nodes[@]}" -gt 0 ] || nodes=(1 2 3)
  cluster_prepare
  local n started=()
  for n in "${nodes[@]}"; do
    if node_pid "$run/node$n" >/dev/null; then
      continue
    fi
    say "cluster: starting node $n (Apache Kafka $KAFKA_VERSION, 127.0.0.1:${PORT[NODE_$n]})"
    launch_node "$run/node$n" "$KAFKA_VERSION" "${KAFKA_HEAP_OPTS:--Xms64m -Xmx384m}"
    started+=("$n")
  done
  local deadline=$((SECONDS + START_TIMEOUT))
  for n in "${nodes[@]}"; do
    wait_node_ready "$run/node$n" "${PORT[NODE_$n]}" "$deadline"
  done
  write_env cluster "$run"
  if [ "${#started[@]}" -gt 0 ]; then
    say "cluster: node(s) ${started[*]} ready after ${SECONDS}s; env in $run/env"
  else
    say "cluster: already running"
  fi
  cat "$run/env"
}

stop_mode() { # mode
  local run=$kafka_root/$1
  if [ "$1" = single ]; then
    stop_pids "$run"
  else
    stop_pids "$run/node1" "$run/node2" "$run/node3"
  fi
  say "$1: stopped"
}

status_mode() { # mode
  local run=$kafka_root/$1 d pid up=0 total=0 v=?
  [ -f "$run/version" ] && v=$(cat "$run/version")
  local dirs=("$run")
  [ "$1" = cluster ] && dirs=("$run/node1" "$run/node2" "$run/node3")
  [ -f "$run/ports" ] && load_ports "$run"
  for d in "${dirs[@]}"; do
    total=$((total + 1))
    local name=$1 port=${PORT[PLAINTEXT]:-}
    if [ "$1" = cluster ]; then
      name="cluster node ${d##*node}"
      port=${PORT[NODE_${d##*node}]:-}
    fi
    if pid=$(node_pid "$d"); then
      if [ -n "$port" ] && broker_answers "$port"; then
        echo "$name: running (pid $pid, Kafka $v, 127.0.0.1:$port)"
        up=$((up + 1))
      else
        echo "$name: process $pid alive but not answering on 127.0.0.1:$port"
      fi
    else
      echo "$name: stopped"
    fi
  done
  [ "$up" -eq "$total" ] && return 0
  [ "$up" -gt 0 ] && return 1
  return 3
}

mode_arg() {
  case ${1:-single} in
  single | cluster) echo "${1:-single}" ;;
  *) die "unknown mode '${1}' (single or cluster)" ;;
  esac
}

node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"
  echo "$1"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)
  mode=$(mode_arg "${1:-}")
  lock_mode "$mode"
  if [ "$mode" = single ]; then start_single; else start_cluster; fi
  ;;
stop)
  mode=$(mode_arg "${1:-}")
  lock_mode "$mode"
  stop_mode "$mode"
  ;;
restart)
  mode=$(mode_arg "${1:-}")
  lock_mode "$mode"
  stop_mode "$mode"
  if [ "$mode" = single ]; then start_single; else start_cluster; fi
  ;;
status)
  mode=$(mode_arg "${1:-}")
  status_mode "$mode"
  ;;
env)
  mode=$(mode_arg "${1:-}")
  [ -f "$kafka_root/$mode/env" ] || die "no env yet: run '$0 start $mode' first"
  cat "$kafka_root/$mode/env"
  ;;
start-node)
  n=$(node_arg "${1:-}")
  lock_mode cluster
  [ -f "$kafka_root/cluster/ports" ] || die "the cluster was never started: run '$0 start cluster' first"
  start_cluster "$n"
  ;;
stop-node)
  n=$(node_arg "${1:-}")
  lock_mode cluster
  stop_pids "$kafka_root/cluster/node$n"
  say "cluster: node $n stopped"
  ;;
tool)
  [ $# -ge 1 ] || die "usage: $0 tool CLASS|ALIAS [ARGS...]"
  check_version "$KAFKA_VERSION"
  check_java "$KAFKA_VERSION"
  ensure_jars "$KAFKA_VERSION"
  mapfile -t tool_opts < <(tool_jvm_opts "$KAFKA_VERSION")
  exec "$JAVA" "${tool_opts[@]}" -cp "$(classpath "$KAFKA_VERSION")" "$(tool_class "$1" "$KAFKA_VERSION")" "${@:2}"
  ;;
-h | --help | help) usage ;;
*) usage ;;
esac
