#!/usr/bin/env python3
"""Encrypts values for `!sinetstream/encrypted` config entries, as SINETStream 1.10 decrypts them.

Python SINETStream has no public "encrypt" API (encrypted values come from its config server), so
this reimplements the encryption side of `sinetstream.configs.decrypt_sec_data`:

    header (4 bytes: version u16 BE = 1, public key type u8 = 1 (RSA), common key type u8 = 1
    (AES-GCM)) || RSA-OAEP(SHA-256) encrypted AES key (modulus size) || 12-byte nonce ||
    ciphertext || 16-byte tag

with the AES-GCM associated data header || encrypted key || nonce. With "check", every value is
then decrypted again by Python SINETStream itself (`get_config_params` on a config file holding
the values, with a temporary HOME whose ~/.config/sinetstream/private_key.pem is the key), so
that the format here is the library's, not only our reading of it.

Two ways to run it with the venv of setup-venv.sh:

* JSON on stdin (used by the Rust tests), answer as JSON on stdout:

      {"key": "/path/key.pem",          # RSA private key (or public key when check is false)
       "passphrase": null,              # passphrase of the key file, if any
       "values": [{"text": "pw"}, {"hex": "00ff"}],
       "aes_key_bytes": 32,             # 16, 24 or 32 (default 32)
       "check": true}                   # default true
      -> {"values": ["<base64>", ...], "checked": true}

* Command line: `encrypt_value.py KEY.pem TEXT...` prints one base64 blob per TEXT, for a
  `!sinetstream/encrypted <blob>` config entry (passphrase in SINETSTREAM_PRIVATE_KEY_PASSPHRASE).
"""

import base64
import json
import os
import shutil
import struct
import sys
import tempfile

from Cryptodome.Cipher import AES, PKCS1_OAEP
from Cryptodome.Hash import SHA256
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes

PASSPHRASE_ENV = "SINETSTREAM_PRIVATE_KEY_PASSPHRASE"


def encrypt(public_key, plaintext, aes_key_bytes=32):
    """One encrypted value (bytes, not yet base64) for `public_key`."""
    header = struct.pack("!HBB", 1, 1, 1)
    key = get_random_bytes(aes_key_bytes)
    encrypted_key = PKCS1_OAEP.new(public_key, hashAlgo=SHA256).encrypt(key)
    nonce = get_random_bytes(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    # The same three updates as decrypt_sec_data.
    cipher.update(header)
    cipher.update(encrypted_key)
    cipher.update(nonce)
    data, tag = cipher.encrypt_and_digest(plaintext)
    return header + encrypted_key + nonce + data + tag


def check_with_sinetstream(key_path, passphrase, blobs, plaintexts):
    """Decrypts `blobs` with Python SINETStream's own config loader and compares."""
    tmp = tempfile.mkdtemp(prefix="sst-encrypted-")
    saved = {k: os.environ.get(k) for k in ("HOME", PASSPHRASE_ENV)}
    try:
        conf_dir = os.path.join(tmp, ".config", "sinetstream")
        os.makedirs(conf_dir)
        shutil.copyfile(key_path, os.path.join(conf_dir, "private_key.pem"))
        os.environ["HOME"] = tmp
        if passphrase is None:
            os.environ.pop(PASSPHRASE_ENV, None)
        else:
            os.environ[PASSPHRASE_ENV] = passphrase

        import sinetstream.configs as configs

        def no_prompt(prompt=""):
            raise RuntimeError(f"the key needs a passphrase ({prompt.strip()})")

        # load_private_key asks on the terminal after a failure; never block a test on it.
        configs.getpass = no_prompt

        config_file = os.path.join(tmp, "config.yml")
        with open(config_file, "w") as f:
            f.write("svc:\n  type: mqtt\n  brokers: localhost\n  secrets:\n")
            for blob in blobs:
                f.write(f"    - !sinetstream/encrypted {base64.b64encode(blob).decode()}\n")
        configs.clear_key_cache()
        _confver, _service, params = configs.get_config_params(
            service="svc", config_file=config_file
        )
        got = params["secrets"]
        if got != plaintexts:
            raise SystemExit(f"Python SINETStream decrypted {len(got)} values differently")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


def plaintext_of(item):
    if "text" in item:
        return item["text"].encode("utf-8")
    return bytes.fromhex(item["hex"])


def main_json():
    req = json.load(sys.stdin)
    key_path = req["key"]
    passphrase = req.get("passphrase")
    with open(key_path, "rb") as f:
        key = RSA.import_key(f.read(), passphrase=passphrase)
    public_key = key.publickey()
    aes_key_bytes = int(req.get("aes_key_bytes", 32))
    plaintexts = [plaintext_of(item) for item in req["values"]]
    blobs = [encrypt(public_key, p, aes_key_bytes) for p in plaintexts]
    checked = False
    if req.get("check", True) and blobs:
        if not key.has_private():
            raise SystemExit("check needs the private key")
        check_with_sinetstream(key_path, passphrase, blobs, plaintexts)
        checked = True
    json.dump(
        {"values": [base64.b64encode(b).decode("ascii") for b in blobs], "checked": checked},
        sys.stdout,
    )


def main_cli(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    with open(argv[0], "rb") as f:
        public_key = RSA.import_key(f.read(), passphrase=os.environ.get(PASSPHRASE_ENV)).publickey()
    for text in argv[1:]:
        print(base64.b64encode(encrypt(public_key, text.encode("utf-8"))).decode("ascii"))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main_cli(sys.argv[1:])
    else:
        main_json()
