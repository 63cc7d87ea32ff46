"""Fuzz-shaped load on the local server (issue 20 item 10): REQUESTS requests over CONNECTIONS
keep-alive connections on loopback, shaped like the seeded schemathesis run: every route
alike; most requests name seeded customers (by ID, member ID or email), some know their PIN
or password, codes and keys come from the answers of earlier requests (request a code, then
reset with it; log in, then log out), and half are negative cases (a field missing or of the
wrong type, broken JSON, other methods and media types), as in schemathesis's run. Wrong
PINs, passwords and codes pile up on the customers, so the lockout paths (PIN blocked,
password throttled, OTP request limit) are reached as well as the success paths. Facebook sign-in is left out: it needs Facebook.

Prints, every 10 s, the requests so far and the rate; at the end the answers per route by
status, the 5xx count (which must be 0: the exit status is 1 otherwise) and requests per
second. Python's standard library only.

Usage: fuzz-load.py URL API_KEY TARGETS REQUESTS CONNECTIONS SEED
"""

import asyncio
import collections
import json
import random
import sys
import time
import urllib.parse

URL, KEY, TARGETS, REQUESTS, CONNECTIONS, SEED = sys.argv[1:7]
TARGETS, REQUESTS, CONNECTIONS, SEED = int(TARGETS), int(REQUESTS), int(CONNECTIONS), int(SEED)
HOST, PORT = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port
PASSWORD = "violet-otter-kettle"


def pin_of(target):
    return f"{target:06d}"


class Shape:
    """Draws the parts of a request."""

    def __init__(self, rng):
        self.rng = rng

    def chance(self, p):
        return self.rng.random() < p

    def target(self):
        return self.rng.randint(1, TARGETS)

    def identifier(self, target=None):
        """A seeded customer most of the time, in any of the forms the API reads."""
        roll = self.rng.random()
        if roll < 0.75:
            n = target or self.target()
            return self.rng.choice([n, str(n), f"F-{n}", f"fuzz{n}@example.com", f"FUZZ{n}@Example.com"])
        if roll < 0.9:
            return self.rng.choice([self.rng.randint(TARGETS + 1, 2**63), f"nobody{self.rng.randint(0, 10**9)}@example.com",
                                    f"M-{self.rng.randint(0, 10**9)}", "0812" + str(self.rng.randint(10**7, 10**8 - 1))])
        return self.junk()

    def junk(self):
        return self.rng.choice([None, "", "   ", True, [], {}, 0, -1, 1.5, "x" * self.rng.randint(1, 300), "\u0000", "💥"])

    def digits(self, n=6):
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def pin(self, target=None):
        if target and target % 2 and self.chance(0.4):
            return pin_of(target)
        return self.digits() if self.chance(0.9) else self.junk()

    def password(self, right=0.4):
        if self.chance(right):
            return PASSWORD
        return self.rng.choice([f"guess-{self.digits(8)}", "password", "12345678", "a" * 200, self.junk()])

    def new_password(self):
        return self.rng.choice([f"fresh-{self.digits(6)}-path", "password", "1234567890", "short", self.junk()])


def encode(body, rng, shape):
    """A request's method, media type and bytes. Half are negative cases, as in schemathesis's
    run: one field dropped or of the wrong type, or a body that is not one (broken JSON, another
    media type or method); the rest are JSON or forms."""
    fields = {k: v for k, v in body.items() if v is not None}
    if rng.random() < 0.5:
        roll = rng.random()
        if roll < 0.1:
            return "POST", "text/plain", b"hello"
        if roll < 0.2:
            return "POST", "application/json", rng.choice([b"{", b"[1,2]", b'{"user": 1,}', b"null", b'"text"'])
        if roll < 0.25:
            return rng.choice(["GET", "PUT", "DELETE", "PATCH"]), None, b""
        if fields and roll < 0.6:
            del fields[rng.choice(sorted(fields))]
        elif fields:
            fields[rng.choice(sorted(fields))] = shape.junk()
    if rng.random() < 0.7 or any(isinstance(v, (list, dict, bool)) or v is None for v in fields.values()):
        return "POST", "application/json", json.dumps(fields).encode()
    return "POST", "application/x-www-form-urlencoded", urllib.parse.urlencode(fields).encode()


def scenarios(shape):
    """Each scenario yields (path, body, authenticated) and receives the answer (status, JSON)."""

    def pin_validate():
        n = shape.target()
        yield "/api/pin/validate", {"user": shape.identifier(n), "pin": shape.pin(n)}, True

    def pin_set():
        pin = shape.pin()
        confirm = pin if shape.chance(0.9) else shape.pin()
        yield "/api/pin/set", {"user": shape.identifier(), "pin": pin, "confirm_pin": confirm}, True

    def pin_change():
        n = shape.target()
        new = shape.pin()
        yield "/api/pin/change", {"user": shape.identifier(n), "current_pin": shape.pin(n), "new_pin": new,
                                  "confirm_new_pin": new if shape.chance(0.9) else shape.pin()}, True

    def pin_unblock():
        yield "/api/pin/unblock", {"user": shape.identifier()}, True

    def pin_reset_flow():
        n = shape.target()
        user = shape.identifier(n)
        status, answer = yield "/api/pin/request-otp-for-reset", {"user": user, "type": shape.rng.choice(
            [None, "sms", "email", "fax"]), "template_code": "reset_code" if shape.chance(0.01) else None}, True
        code = answer.get("otp") if status == 200 and shape.chance(0.7) else shape.digits()
        pin = shape.pin()
        yield "/api/pin/reset", {"user": user, "otp": code, "pin": pin,
                                 "confirm_pin": pin if shape.chance(0.9) else shape.pin()}, True

    def pin_reset_with_password():
        pin = shape.pin()
        yield "/api/pin/reset-with-password", {"user": shape.identifier(), "password": shape.password(), "pin": pin,
                                               "confirm_pin": pin if shape.chance(0.9) else shape.pin()}, True

    def validate_password():
        yield "/api/auth/validate-password", {"user": shape.identifier(), "password": shape.password()}, True

    def change_password():
        # Back to the seeded password, so that the right one stays right.
        yield "/api/auth/change-password", {"user": shape.identifier(), "old_password": shape.password(),
                                            "new_password": PASSWORD if shape.chance(0.7) else shape.new_password()}, True

    def set_password():
        n = shape.target()
        email = f"fuzz{n}@example.com" if shape.chance(0.8) else shape.identifier()
        yield "/api/auth/set-password", {"email": email, "new_password": PASSWORD if shape.chance(0.7)
                                         else shape.new_password()}, True

    def password_reset_flow():
        n = shape.target()
        identifier = shape.identifier(n)
        status, answer = yield "/api/auth/request-otp-for-password-reset", {
            "identifier": identifier, "type": shape.rng.choice(["email", "sms", None])}, True
        code = answer.get("otp") if status == 200 and shape.chance(0.7) else shape.digits()
        yield "/api/auth/reset-password-with-otp", {"identifier": identifier, "otp": code, "new_password": PASSWORD,
                                                    "confirm_new_password": PASSWORD}, True

    def reset_otp_limit():
        yield "/api/auth/reset-otp-limit", {"user": shape.identifier()}, True

    def validate_mobile_number():
        number = shape.rng.choice(["081234567890", "+62 812-3456-7890", "0812" + shape.digits(8), shape.digits(5),
                                   "+1 202 555 0143", shape.junk()])
        yield "/api/auth/validate-mobile-number", {"mobile_number": number}, True

    def token_flow():
        status, answer = yield "/api/token/", {"token": KEY if shape.chance(0.8) else f"1.{shape.digits(32)}.x",
                                               "merchant": shape.rng.choice([1, "1", 1.0, 2, shape.junk()])}, False
        token = answer.get("access_token") if status == 200 else f"a.{shape.digits(20)}.c"
        yield "/api/token/verify/", {"access_token": token}, False

    def v2_login_flow():
        n = shape.target()
        email = f"fuzz{n}@example.com" if shape.chance(0.8) else f"nobody{shape.digits(9)}@example.com"
        status, answer = yield "/api/v2/auth/login", {"email": email, "password": shape.password(0.6),
                                                      "gcm_id": "gcm-load" if shape.chance(0.5) else None}, False
        key = answer.get("key") if status == 200 and shape.chance(0.8) else shape.digits(40)
        yield "/api/v2/auth/logout", {"key": key}, False

    def v2_register():
        email = f"new{shape.digits(12)}@example.com" if shape.chance(0.6) else f"fuzz{shape.target()}@example.com"
        yield "/api/v2/auth/register", {
            "email": email if shape.chance(0.9) else shape.junk(), "password": shape.rng.choice(
                [f"river-{shape.digits(6)}-stone", "password", "12345678"]),
            "name": shape.rng.choice(["Nia", "", "x" * 50, shape.junk()]),
            "id_location": shape.rng.choice([7, "7", 7.0, 0, "seven"]),
            "phone": shape.rng.choice([None, "0813" + shape.digits(8), "123"]),
            "longitude": shape.rng.choice([None, 106.8, "106.8", 200]),
            "latitude": shape.rng.choice([None, -6.2, "-6.2", -100]),
        }, False

    def v2_forgot_password():
        n = shape.target()
        email = f"fuzz{n}@example.com" if shape.chance(0.3) else f"nobody{shape.digits(6)}@example.com"
        yield "/api/v2/auth/forgot_password", {"email": email if shape.chance(0.9) else shape.junk()}, False

    def v2_reset_password():
        token = f"{shape.target()}.{shape.digits(32)}" if shape.chance(0.8) else shape.junk()
        yield "/api/v2/auth/reset_password", {"token": token, "password": f"forest-{shape.digits(6)}-bridge"}, False

    return [pin_validate, pin_set, pin_change, pin_unblock, pin_reset_flow, pin_reset_with_password, validate_password,
            change_password, set_password, password_reset_flow, reset_otp_limit, validate_mobile_number, token_flow,
            v2_login_flow, v2_register, v2_forgot_password, v2_reset_password]


class Totals:
    def __init__(self):
        self.sent = 0
        self.answers = collections.defaultdict(collections.Counter)
        self.five_xx = []

    def claim(self):
        if self.sent >= REQUESTS:
            return False
        self.sent += 1
        return True


async def exchange(reader, writer, method, path, content_type, body, authenticated):
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    if authenticated:
        head.append(f"Authorization: Token {KEY}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    payload = await reader.readexactly(length)
    status = int(status_line.split()[1])
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = {}
    return status, answer if isinstance(answer, dict) else {}


async def connection(number, totals):
    rng = random.Random(SEED * 1000 + number)
    shape = Shape(rng)
    flows = scenarios(shape)
    reader, writer = await asyncio.open_connection(HOST, PORT)
    try:
        while True:
            flow = rng.choice(flows)()
            reply = None
            while True:
                try:
                    path, body, authenticated = flow.send(reply)
                except StopIteration:
                    break
                if not totals.claim():
                    return
                method, content_type, data = encode(body, rng, shape)
                status, answer = await exchange(reader, writer, method, path, content_type, data, authenticated)
                totals.answers[path][status] += 1
                if status >= 500:
                    totals.five_xx.append((path, status, answer))
                reply = (status, answer)
    finally:
        writer.close()


async def progress(totals, started):
    while True:
        await asyncio.sleep(10)
        elapsed = time.monotonic() - started
        print(f"  {totals.sent:>9,} requests, {totals.sent / elapsed:,.0f}/s", file=sys.stderr, flush=True)


async def main():
    totals = Totals()
    started = time.monotonic()
    reporter = asyncio.create_task(progress(totals, started))
    await asyncio.gather(*(connection(n, totals) for n in range(CONNECTIONS)))
    elapsed = time.monotonic() - started
    reporter.cancel()
    print(f"answers per route ({REQUESTS:,} requests, {CONNECTIONS} connections):")
    for path in sorted(totals.answers):
        counts = totals.answers[path]
        print(f"  {path:42} {sum(counts.values()):>9,}  " + ", ".join(f"{s}: {c:,}" for s, c in sorted(counts.items())))
    print(f"5xx: {len(totals.five_xx)}")
    for path, status, answer in totals.five_xx[:20]:
        print(f"  {path} {status} {answer}")
    print(f"requests per second: {totals.sent / elapsed:,.0f} ({totals.sent:,} in {elapsed:,.1f} s)")
    return 1 if totals.five_xx else 0


sys.exit(asyncio.run(main()))
