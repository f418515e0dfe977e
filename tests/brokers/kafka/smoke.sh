#!/usr/bin/env bash
# Smoke test of the Kafka test broker with Kafka's own console tools: produces and consumes three
# records on every listener/mechanism of a running `kafka.sh start` (single), and checks that a
# client without certificate, a wrong SCRAM password and an untrusted CA are refused.
# Usage: tests/brokers/kafka/smoke.sh [min]   (min: PLAINTEXT, SASL_PLAINTEXT/SCRAM-SHA-256 and
# SASL_SSL/SCRAM-SHA-512 only). Prints 'N passed, N failed'; exits non-zero on a failure.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K=$here/../kafka.sh
envf=$("$K" env single) || exit 1
set -a
eval "$envf"
set +a
C=$KAFKA_CLIENT_CONFIG_DIR
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
ko() { echo "FAIL $*"; failed=$((failed + 1)); }

roundtrip() { # name bootstrap client-config
  local name=$1 bs=$2 cfg=$3 topic=smoke-$1-$RANDOM$RANDOM out
  printf 'm1-%s\nm2-%s\nm3-%s\n' "$name" "$name" "$name" |
    KAFKA_VERSION=$KAFKA_VERSION "$K" tool console-producer --bootstrap-server "$bs" --topic "$topic" \
      --producer.config "$cfg" >"$tmp/$name.p" 2>&1
  out=$(KAFKA_VERSION=$KAFKA_VERSION "$K" tool console-consumer --bootstrap-server "$bs" --topic "$topic" \
    --consumer.config "$cfg" --from-beginning --max-messages 3 --timeout-ms 30000 2>"$tmp/$name.c" |
    grep '^m[0-9]-' | tr '\n' ' ')
  if [ "$out" = "m1-$name m2-$name m3-$name " ]; then
    ok "$name ($bs)"
  else
    ko "$name ($bs): consumed [$out]"
    tail -n 5 "$tmp/$name.p" "$tmp/$name.c"
  fi
}

refused() { # name bootstrap client-config expected-error
  local name=$1 bs=$2 cfg=$3 want=$4
  echo x | KAFKA_VERSION=$KAFKA_VERSION timeout 60 "$K" tool console-producer --bootstrap-server "$bs" \
    --topic "smoke-refused-$name" --producer.config "$cfg" >"$tmp/$name.n" 2>&1
  if grep -q "$want" "$tmp/$name.n"; then ok "refused: $name ($want)"; else ko "refused: $name: no $want"; fi
}

roundtrip plaintext "$KAFKA_PLAINTEXT" "$C/plaintext.properties"
roundtrip sasl_plaintext-scram-sha-256 "$KAFKA_SASL_PLAINTEXT" "$C/sasl_plaintext-scram-sha-256.properties"
roundtrip sasl_ssl-scram-sha-512 "$KAFKA_SASL_SSL" "$C/sasl_ssl-scram-sha-512.properties"
if [ "${1:-}" != min ]; then
  roundtrip ssl "$KAFKA_SSL" "$C/ssl.properties"
  roundtrip mtls "$KAFKA_MTLS" "$C/mtls.properties"
  roundtrip sasl_plaintext-plain "$KAFKA_SASL_PLAINTEXT" "$C/sasl_plaintext-plain.properties"
  roundtrip sasl_plaintext-scram-sha-512 "$KAFKA_SASL_PLAINTEXT" "$C/sasl_plaintext-scram-sha-512.properties"
  roundtrip sasl_ssl-plain "$KAFKA_SASL_SSL" "$C/sasl_ssl-plain.properties"
  roundtrip sasl_ssl-scram-sha-256 "$KAFKA_SASL_SSL" "$C/sasl_ssl-scram-sha-256.properties"

  printf 'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s\nmax.block.ms=10000\n' \
    "$KAFKA_CA" >"$tmp/nocert.properties"
  refused mtls-without-cert "$KAFKA_MTLS" "$tmp/nocert.properties" SslAuthenticationException
  sed 's/password="[^"]*"/password="wrong"/' "$C/sasl_plaintext-scram-sha-256.properties" >"$tmp/badpw.properties"
  echo max.block.ms=10000 >>"$tmp/badpw.properties"
  refused scram-wrong-password "$KAFKA_SASL_PLAINTEXT" "$tmp/badpw.properties" SaslAuthenticationException
  printf 'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s\nmax.block.ms=10000\n' \
    "$KAFKA_PKI_DIR/other-ca.pem" >"$tmp/otherca.properties"
  refused untrusted-ca "$KAFKA_SSL" "$tmp/otherca.properties" SslAuthenticationException
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
