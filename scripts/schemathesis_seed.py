"""Seeds the local server for scripts/schemathesis.sh, so generated requests reach the success
and lockout paths rather than stopping at "user not found".

- Fuzz targets first, so they get the smallest IDs (1..FUZZ_TARGETS): the integers a generator
  draws for `user` most often. Each has a password and a PIN, so generated PINs, passwords and
  codes are checked against a real customer (wrong PIN, PIN blocked, password throttled, OTP
  request limit).
- Then the customers the examples in docs/openapi.yaml name, in the state each example needs
  (ann has PIN 246810, fay has no PIN yet, dan's password is copper-kettle-41, ...), and the
  template `reset_code` one of them uses.
- Secrets no document can hold (the API key, an access token, live OTPs, an emailed reset
  token, a v2 key) are asked from the server now and written into the run's copy of the
  document, which is what schemathesis reads.

Usage: schemathesis_seed.py BIN STORE URL OUTBOX DOC OUT; prints the API key.
"""

import json
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

BIN, STORE, URL, OUTBOX, DOC, OUT = sys.argv[1:7]
FUZZ_TARGETS = 25
FUZZ_PASSWORD = "violet-otter-kettle"


def cli(*args):
    done = subprocess.run([BIN, "--store", STORE, *args], check=True, capture_output=True, text=True)
    return done.stdout


def create_customer(email, password=None, mobile=None, member_id=None):
    args = ["customer", "create", "--merchant", "1", "--email", email, "--name", email.split("@")[0].title()]
    for flag, value in (("--password", password), ("--mobile", mobile), ("--member-id", member_id)):
        if value is not None:
            args += [flag, value]
    return json.loads(cli(*args))["id"]


def post(path, body, key=None):
    request = urllib.request.Request(f"{URL}{path}", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Token {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        sys.exit(f"seeding: {path} answered {error.code}: {error.read().decode()}")


merchant = json.loads(cli("merchant", "create", "--name", "Schemathesis"))
key = merchant["api_key"]
assert merchant["merchant_id"] == 1, "the v2 merchant is the first one"
cli("template", "put", "--merchant", "1", "--code", "reset_code", "--subject", "Your code",
    "--text", "Hello {{ name }}, your code is {{ otp }}.", "--sms", "Code {{ otp }}")

for n in range(1, FUZZ_TARGETS + 1):
    customer = create_customer(f"fuzz{n}@example.com", FUZZ_PASSWORD, member_id=f"F-{n}")
    assert customer == n, f"fuzz target {n} got ID {customer}"
    pin = f"{n:06d}"
    post("/api/pin/set", {"user": n, "pin": pin, "confirm_pin": pin}, key)

# The customers of the examples, as each example needs them.
create_customer("ann@example.com", "violet-otter-kettle", mobile="081234567890", member_id="M-1001")
post("/api/pin/set", {"user": "ann@example.com", "pin": "246810", "confirm_pin": "246810"}, key)
create_customer("bob@example.com", "quiet-maple-harbor")
create_customer("cat@example.com")
create_customer("dan@example.com", "copper-kettle-41")
create_customer("fay@example.com")
create_customer("gus@example.com", mobile="081298765432")
create_customer("hal@example.com", member_id="M-2002")
create_customer("ivy@example.com")
post("/api/pin/set", {"user": "ivy@example.com", "pin": "112233", "confirm_pin": "112233"}, key)
create_customer("jay@example.com", mobile="081311122233")
create_customer("kim@example.com")
create_customer("lee@example.com", "moss-garden-path-3")
create_customer("mia@example.com", "cedar-window-19")

# Live secrets for the run's copy of the document.
live = {
    "token": {"token": key},
    "token_verify": {"access_token": post("/api/token/", {"token": key, "merchant": 1})["access_token"]},
    "pin_reset": {"otp": post("/api/pin/request-otp-for-reset", {"user": "jay@example.com"}, key)["otp"]},
    "reset_password_with_otp": {
        "otp": post("/api/auth/request-otp-for-password-reset",
                    {"identifier": "kim@example.com", "type": "email"}, key)["otp"],
    },
    "v2_logout": {"key": post("/api/v2/auth/login",
                              {"email": "lee@example.com", "password": "moss-garden-path-3"})["key"]},
}
post("/api/v2/auth/forgot_password", {"email": "mia@example.com"})


def emailed_to(address):
    # Delivery runs after the answer: the message lands in the outbox a moment later.
    for _ in range(100):
        for path in sorted(pathlib.Path(OUTBOX).glob("*")):
            message = json.loads(path.read_text()) if path.is_file() else {}
            if message.get("destination") == address:
                return message
        time.sleep(0.1)
    sys.exit(f"seeding: no email reached {address}")


reset_email = emailed_to("mia@example.com")
live["v2_reset_password"] = {"token": reset_email["text"].split("reset your password: ")[1].split()[0]}

document = yaml.safe_load(pathlib.Path(DOC).read_text())
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
pathlib.Path(OUT).write_text(yaml.safe_dump(document, sort_keys=False))
print(key)
