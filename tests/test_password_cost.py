"""Production password hashes cost what they should.

The suite lowers the scrypt cost for speed (tests/conftest.py sets
engine.users.PASSWORD_HASH_METHOD); this checks, in a fresh process that the suite's setting
does not reach, that Tailor itself hashes at werkzeug's scrypt default (n=2**15, r=8, p=1)
and that such a hash checks out.
"""

from __future__ import annotations

import subprocess
import sys

import engine.users
from engine.paths import ROOT

PROBE = """
from engine.users import PASSWORD_HASH_METHOD, _dummy_hash, hash_password, verify_password
hashed = hash_password("correct horse 1")
print(PASSWORD_HASH_METHOD)
print(hashed)
print(_dummy_hash().split("$")[0])
print(verify_password(hashed, "correct horse 1"), verify_password(hashed, "wrong horse 1"))
"""


def test_a_fresh_process_hashes_passwords_with_production_scrypt_cost():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    method, hashed, dummy, checks = done.stdout.splitlines()
    assert method == "scrypt"
    assert hashed.startswith("scrypt:32768:8:1$") and len(hashed.split("$")) == 3
    assert dummy == "scrypt:32768:8:1"  # unknown usernames cost the same as real ones
    assert checks == "True False"


def test_the_suite_hashes_cheaply_but_the_same_way():
    assert engine.users.PASSWORD_HASH_METHOD == "scrypt:128:8:1"
    hashed = engine.users.hash_password("correct horse 1")
    assert hashed.startswith("scrypt:128:8:1$")
    assert engine.users.verify_password(hashed, "correct horse 1")
    assert not engine.users.verify_password(hashed, "wrong horse 1")
