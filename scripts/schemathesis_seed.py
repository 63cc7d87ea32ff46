"""The data behind scripts/schemathesis.sh, so generated requests reach the success and lockout
paths rather than stopping at "user not found" (issue 20 item 10).

Run as a script, it seeds the local server:

- Fuzz targets first, imported with the IDs 1..TARGETS (a process creating customers takes
  its IDs in blocks, so separate `customer create` runs would not get consecutive ones):
  customers `fuzz<n>@example.com`, member ID `F-<n>`, password FUZZ_PASSWORD (as a Django
  PBKDF2 hash, rehashed on the first right check); the odd ones have PIN `pin_of(n)`, the even ones none yet.
- Then the customers the examples in docs/openapi.yaml name, in the state each example needs
  (ann has PIN 246810, fay has no PIN yet, dan's password is copper-kettle-41, ...), and the
  template `reset_code` one of them uses.
- Secrets no document can hold (the API key, an access token, live OTPs, an emailed reset
  token, a v2 key) are asked from the server and written into the run's copy of the document,
  which is what schemathesis reads.

Loaded by schemathesis as its hooks module (SCHEMATHESIS_HOOKS), it points generated requests
at the fuzz targets, as real clients name real customers; it changes positive cases only (the
ones meant to be valid), never in the examples phase, and picks which by a checksum of the
generated body (a run with the same seed changes the same requests):

- Two requests in three that name a customer name a fuzz target instead (by ID, member ID or
  email): a generator drawing from all integers and strings almost never hits one.
- Two requests in three checking a PIN or password send the target's current one (the hooks
  know it by following every PIN and password change that succeeds), always to a target past
  the first LOCKOUT_TARGETS; the others, with generated (wrong) secrets, go to those few, so
  wrong PINs and passwords pile up there to the lockouts while the rest stay usable. A first PIN
  goes to a target without one, and once every target has one, to a customer registered for it
  (through v2 register: the v2 merchant is the seeded one).
- A confirmation repeats its field (`confirm_pin` = `pin`) nine times in ten: JSON Schema cannot
  say two fields are equal, and two generated PINs almost never are.
- Four resets in five carry a code (or emailed token) issued to the target just before.
- Every answer is tallied (route, status, error, phase, mode) for the script's summary.

Usage: schemathesis_seed.py BIN STORE URL OUTBOX DOC OUT (prints the API key); the hooks read
STAMPS_SEED_URL, STAMPS_SEED_KEY, STAMPS_SEED_OUTBOX and STAMPS_SEED_TALLY.
"""

import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

TARGETS = 24
# The targets that get the wrong PINs and passwords: few, so that each soon reaches the lockout.
LOCKOUT_TARGETS = 3
FUZZ_PASSWORD = "violet-otter-kettle"


def pin_of(target):
    """The PIN an odd fuzz target is seeded with."""
    return f"{target:06d}"


def post(url, path, body, key=None, fail=True):
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Token {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if fail:
            sys.exit(f"seeding: {path} answered {error.code}: {error.read().decode()}")
        return {}


def emailed_to(outbox, address, skip=frozenset(), tries=100):
    """The first message to `address` in the outbox (delivery lands a moment after the answer)."""
    for _ in range(tries):
        for path in sorted(pathlib.Path(outbox).glob("*")):
            if path.name in skip or not path.is_file():
                continue
            message = json.loads(path.read_text())
            if message.get("destination") == address:
                return message
        time.sleep(0.05)
    return None


def reset_token(message):
    return message["text"].split("reset your password: ")[1].split()[0]


def seed(bin_path, store, url, outbox, doc, out):
    import yaml

    def cli(*args, stdin=None):
        return subprocess.run([bin_path, "--store", store, *args], check=True, capture_output=True, text=True,
                              input=stdin).stdout

    def create_customer(email, password=None, mobile=None, member_id=None):
        args = ["customer", "create", "--merchant", "1", "--email", email, "--name", email.split("@")[0].title()]
        for flag, value in (("--password", password), ("--mobile", mobile), ("--member-id", member_id)):
            if value is not None:
                args += [flag, value]
        return json.loads(cli(*args))["id"]

    merchant = json.loads(cli("merchant", "create", "--name", "Schemathesis"))
    key = merchant["api_key"]
    assert merchant["merchant_id"] == 1, "the v2 merchant is the first one"
    cli("template", "put", "--merchant", "1", "--code", "reset_code", "--subject", "Your code",
        "--text", "Hello {{ name }}, your code is {{ otp }}.", "--sms", "Code {{ otp }}")

    def django_hash(password, salt):
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000)
        return f"pbkdf2_sha256$1000${salt}${base64.b64encode(digest).decode()}"

    targets = "".join(
        json.dumps({"id": n, "email": f"fuzz{n}@example.com", "member_id": f"F-{n}", "name": f"Fuzz{n}",
                    "password": django_hash(FUZZ_PASSWORD, f"fuzzsalt{n}")}) + "\n"
        for n in range(1, TARGETS + 1))
    cli("customer", "import", "--merchant", "1", "-", stdin=targets)
    for n in range(1, TARGETS + 1):
        if n % 2:
            post(url, "/api/pin/set", {"user": n, "pin": pin_of(n), "confirm_pin": pin_of(n)}, key)

    create_customer("ann@example.com", "violet-otter-kettle", mobile="081234567890", member_id="M-1001")
    post(url, "/api/pin/set", {"user": "ann@example.com", "pin": "246810", "confirm_pin": "246810"}, key)
    create_customer("bob@example.com", "quiet-maple-harbor")
    create_customer("cat@example.com")
    create_customer("dan@example.com", "copper-kettle-41")
    create_customer("fay@example.com")
    create_customer("gus@example.com", mobile="081298765432")
    create_customer("hal@example.com", member_id="M-2002")
    create_customer("ivy@example.com")
    post(url, "/api/pin/set", {"user": "ivy@example.com", "pin": "112233", "confirm_pin": "112233"}, key)
    create_customer("jay@example.com", mobile="081311122233")
    create_customer("kim@example.com")
    create_customer("lee@example.com", "moss-garden-path-3")
    create_customer("mia@example.com", "cedar-window-19")

    live = {
        "token": {"token": key},
        "token_verify": {"access_token": post(url, "/api/token/", {"token": key, "merchant": 1})["access_token"]},
        "pin_reset": {"otp": post(url, "/api/pin/request-otp-for-reset", {"user": "jay@example.com"}, key)["otp"]},
        "reset_password_with_otp": {
            "otp": post(url, "/api/auth/request-otp-for-password-reset",
                        {"identifier": "kim@example.com", "type": "email"}, key)["otp"],
        },
        "v2_logout": {"key": post(url, "/api/v2/auth/login",
                                  {"email": "lee@example.com", "password": "moss-garden-path-3"})["key"]},
    }
    post(url, "/api/v2/auth/forgot_password", {"email": "mia@example.com"})
    message = emailed_to(outbox, "mia@example.com")
    if message is None:
        sys.exit("seeding: the reset email to mia@example.com never arrived")
    live["v2_reset_password"] = {"token": reset_token(message)}

    document = yaml.safe_load(pathlib.Path(doc).read_text())
    patched = set()
    for item in document["paths"].values():
        operation = item["post"]
        fields = live.get(operation["operationId"], {})
        for content in operation["requestBody"]["content"].values():
            for example in content.get("examples", {}).values():
                for name, value in fields.items():
                    example["value"][name] = value
                    patched.add(operation["operationId"])
    assert patched == set(live), f"examples not found for {set(live) - patched}"
    pathlib.Path(out).write_text(yaml.safe_dump(document, sort_keys=False))
    print(key)


# ---- The hooks. -------------------------------------------------------------------------------

IDENTIFIER_FIELDS = ("user", "identifier")
CONFIRMATIONS = {
    "/api/pin/set": ("pin", "confirm_pin"),
    "/api/pin/reset": ("pin", "confirm_pin"),
    "/api/pin/reset-with-password": ("pin", "confirm_pin"),
    "/api/pin/change": ("new_pin", "confirm_new_pin"),
    "/api/auth/reset-password-with-otp": ("new_password", "confirm_new_password"),
}
# Where a route checks a target's PIN or password: the field that carries it.
PIN_CHECKS = {"/api/pin/validate": "pin", "/api/pin/change": "current_pin"}
PASSWORD_CHECKS = {
    "/api/auth/validate-password": "password",
    "/api/auth/change-password": "old_password",
    "/api/pin/reset-with-password": "password",
    "/api/v2/auth/login": "password",
}
# What a success sets: route -> (PIN field, password field).
CHANGES = {
    "/api/pin/set": ("pin", None),
    "/api/pin/reset": ("pin", None),
    "/api/pin/reset-with-password": ("pin", None),
    "/api/pin/change": ("new_pin", None),
    "/api/auth/change-password": (None, "new_password"),
    "/api/auth/set-password": (None, "new_password"),
    "/api/auth/reset-password-with-otp": (None, "new_password"),
    "/api/v2/auth/reset_password": (None, "password"),
}
PINS = {n: pin_of(n) for n in range(1, TARGETS + 1) if n % 2}
LOCKOUT_POOL = range(1, LOCKOUT_TARGETS + 1)
SUCCESS_POOL = range(LOCKOUT_TARGETS + 1, TARGETS + 1)
PASSWORDS = {n: FUZZ_PASSWORD for n in range(1, TARGETS + 1)}


def checksum(body, salt):
    return zlib.crc32((salt + json.dumps(body, sort_keys=True, default=str)).encode())


def one_in(body, n, salt):
    return checksum(body, salt) % n == 0


def target_named(value):
    """The fuzz target `value` names (by ID, member ID or email), if any."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("fuzz") and text.endswith("@example.com"):
            text = text[4:-len("@example.com")]
        elif text.startswith("f-"):
            text = text[2:]
        value = int(text) if text.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= TARGETS:
        return value
    return None


def target_of(path, body):
    if path == "/api/v2/auth/reset_password":
        token = body.get("token")
        return target_named(token.split(".")[0]) if isinstance(token, str) else None
    for field in (*IDENTIFIER_FIELDS, "email"):
        if field in body:
            return target_named(body[field])
    return None


def issue_code(path, target):
    """A code (or emailed token) just issued to `target` for the reset at `path`, or None."""
    url, key, outbox = os.environ["STAMPS_SEED_URL"], os.environ["STAMPS_SEED_KEY"], os.environ["STAMPS_SEED_OUTBOX"]
    post(url, "/api/auth/reset-otp-limit", {"user": target}, key, fail=False)
    if path == "/api/pin/reset":
        return post(url, "/api/pin/request-otp-for-reset", {"user": target}, key, fail=False).get("otp")
    if path == "/api/auth/reset-password-with-otp":
        body = {"identifier": target, "type": "email"}
        return post(url, "/api/auth/request-otp-for-password-reset", body, key, fail=False).get("otp")
    address = f"fuzz{target}@example.com"
    before = {entry.name for entry in pathlib.Path(outbox).glob("*")}
    post(url, "/api/v2/auth/forgot_password", {"email": address}, fail=False)
    message = emailed_to(outbox, address, skip=before, tries=60)
    return reset_token(message) if message else None


def is_positive_generated(case):
    meta = case._meta
    return meta is not None and meta.generation.mode.is_positive and str(meta.phase.name) != "examples"


def pool_for(path, body):
    """The targets a request may be pointed at, and whether it sends the current secret. Wrong
    PINs and passwords go to the first half of the targets, which soon reach the lockouts;
    requests that know the secret go to the second half, which stays usable; a first PIN goes
    to a target without one; resets and PIN checks to targets with one."""
    checks_secret = path in PIN_CHECKS or path in PASSWORD_CHECKS
    knows = checks_secret and not one_in(body, 3, "secret")
    pool = SUCCESS_POOL if knows else LOCKOUT_POOL if checks_secret else range(1, TARGETS + 1)
    if path == "/api/pin/set":
        pool = [t for t in pool if t not in PINS] or pool
    elif path in PIN_CHECKS or path in ("/api/pin/reset", "/api/pin/reset-with-password"):
        pool = [t for t in pool if t in PINS] or pool
    return list(pool), knows


def point_at_targets(case):
    body, path = case.body, case.operation.path
    pick = checksum(body, "target")
    pool, knows = pool_for(path, body)
    if path == "/api/pin/set" and "user" in body and not one_in(body, 3, "name") and all(t in PINS for t in pool):
        # Every seeded customer has a PIN: a first PIN goes to one registered for it.
        email = f"first-pin-{pick}@example.com"
        registration = {"email": email, "password": FUZZ_PASSWORD, "name": "First PIN", "id_location": 1}
        if post(os.environ["STAMPS_SEED_URL"], "/api/v2/auth/register", registration, fail=False).get("key"):
            body["user"] = email
    elif not one_in(body, 3, "name"):
        target = pool[pick % len(pool)]
        for field in IDENTIFIER_FIELDS:
            if field in body:
                body[field] = [target, f"F-{target}", f"fuzz{target}@example.com"][pick // TARGETS % 3]
        if path in ("/api/auth/set-password", "/api/v2/auth/login") and "email" in body:
            body["email"] = f"fuzz{target}@example.com"
    pair = CONFIRMATIONS.get(path)
    if pair and pair[0] in body and pair[1] in body and not one_in(body, 10, "confirm"):
        body[pair[1]] = body[pair[0]]
    target = target_of(path, body)
    if path == "/api/v2/auth/reset_password":
        if not one_in(body, 5, "code"):
            token = issue_code(path, target or pool[pick % len(pool)])
            if token:
                body["token"] = token
        return
    if target is None:
        return
    if knows and path in PIN_CHECKS and target in PINS:
        body[PIN_CHECKS[path]] = PINS[target]
    if knows and path in PASSWORD_CHECKS:
        body[PASSWORD_CHECKS[path]] = PASSWORDS[target]
    if path in ("/api/pin/reset", "/api/auth/reset-password-with-otp") and not one_in(body, 5, "code"):
        code = issue_code(path, target)
        if code:
            body["otp"] = code


def follow_changes(case, status):
    body, path = case.body, case.operation.path
    if not 200 <= status < 300 or path not in CHANGES:
        return
    target = target_of(path, body)
    pin_field, password_field = CHANGES[path]
    if target is not None and pin_field:
        PINS[target] = body[pin_field]
    if target is not None and password_field:
        PASSWORDS[target] = body[password_field]


if __name__ == "__main__":
    seed(*sys.argv[1:7])
else:
    import schemathesis

    @schemathesis.hook
    def before_call(context, case, kwargs):
        if isinstance(case.body, dict) and is_positive_generated(case):
            point_at_targets(case)

    @schemathesis.hook
    def after_call(context, case, response):
        try:
            answer = response.json()
        except Exception:
            answer = None
        if isinstance(case.body, dict):
            follow_changes(case, response.status_code)
        code = ""
        if isinstance(answer, dict):
            code = answer.get("error_code") or answer.get("error") or ""
        meta = case._meta
        phase, mode = (str(meta.phase.name), str(meta.generation.mode)) if meta is not None else ("?", "?")
        with open(os.environ["STAMPS_SEED_TALLY"], "a") as tally:
            tally.write(json.dumps([case.operation.path, response.status_code, code, phase, mode]) + "\n")
