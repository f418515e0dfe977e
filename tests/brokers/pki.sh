#!/usr/bin/env bash
# Makes a throw-away PKI for the test brokers, idempotently:
#   DIR/ca.pem ca.key                 the test CA (trusted by tests)
#   DIR/server.pem server.key         server cert, SAN DNS:localhost, IP:127.0.0.1
#   DIR/client.pem client.key         client cert for mutual TLS (CN=sinetstream-test-client)
#   DIR/other-ca.pem other-ca.key     a second CA that nobody trusts (untrusted-CA tests)
#   DIR/wronghost.pem wronghost.key   cert from the test CA for DNS:wrong.example only (hostname tests)
# Keys are PKCS#8 PEM, readable by the broker users (mosquitto drops privileges).
# Usage: pki.sh DIR
set -euo pipefail
dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -f .done ] && exit 0

days=3650
mkca() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days $days \
    -subj "$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
mkcert() { # name subject san extusage
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' "$4" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days $days \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
mkca ca "/CN=sinetstream-test-ca"
mkca other-ca "/CN=sinetstream-untrusted-ca"
mkcert server "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1" serverAuth
mkcert client "/CN=sinetstream-test-client" "" clientAuth
mkcert wronghost "/CN=wrong.example" "subjectAltName=DNS:wrong.example" serverAuth
chmod 0644 ./*.pem ./*.key
chmod 0755 .
touch .done
