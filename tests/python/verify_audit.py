#!/usr/bin/env python3
"""Checks an exported range of the gateway's hash-chained audit log, without
the gateway.

This file is written from the description of the chain in docs/security.md
("Checking the trail yourself") and shares no code with the gateway: it needs
only Python 3.9 or newer and its standard library, so an auditor can read it
whole and run it on a machine of their own.

The input is what `mediation-gateway ops audit ... --export` writes: one JSON
object per line, in chain order, each with `seq`, `at`, `actor`, `action`,
`referral`, `outcome`, `prev_hash`, `hash` and `record` (the standard base64
of the bytes the hash covers), and `detail`: the outcome's detail, which a
record of version 3 keeps beside the hashed bytes, or null once the
retention policy purged it. Other keys are ignored; blank lines are
skipped.

For every entry it checks that:

* `hash` is the SHA-256 of the entry's number (8 bytes, big-endian), its
  `prev_hash` (the 64 hex characters as ASCII) and the record's bytes, so the
  entry was not changed after it was chained;
* the record's bytes decode, and the readable fields of the line (`at`,
  `actor`, `action`, `referral`, `outcome`) say exactly what the bytes say,
  so what a reader sees is what the hash covers (`at` to the nanosecond);
  a record that starts with `{` is of the first format (its JSON, kept by a
  store migrated from schema 1) and is read as JSON;
* for a record of version 3, whose hashed bytes end with the SHA-256 of the
  outcome's detail: a `detail` that is kept hashes to that digest, so a
  changed detail is found as surely as a changed record; a purged one
  (null) leaves the outcome's code alone, and the chain still verifies;
* it comes right after the entry before it: the next number, and a
  `prev_hash` equal to that entry's `hash`. A range may start anywhere; its
  first entry is linked to nothing in the file, except that entry 0, a
  chain's first, must have 64 zeros as its `prev_hash`.

Every problem is printed with the number of the entry it concerns (or the
line, for a line that cannot be read), then the count of problems; the exit
status is 1. With none, it prints "verified N entries, seq A..B, last hash H"
and exits 0. A usage error (no such file, bad arguments) exits 2.

What a range cannot show by itself: that entries were not cut off at either
end. Compare the first entry's `prev_hash` and the last `hash` with hashes
kept elsewhere (an earlier export, or what the gateway reports now).

Usage: python3 verify_audit.py EXPORT.jsonl   (or - for standard input)
"""

import argparse
import base64
import binascii
import calendar
import datetime
import hashlib
import json
import re
import sys

GENESIS = "0" * 64
"""The prev_hash of a chain's first entry (number 0)."""

WHOLE_VERSION = 2
"""The first byte of a record hashed whole, its outcome inside."""

DIGEST_VERSION = 3
"""The first byte of a record whose hashed bytes end with the SHA-256 of the
outcome's detail, the detail itself kept beside them (and purged in time)."""

FIELDS = ("seq", "at", "actor", "action", "referral", "outcome", "prev_hash", "hash", "record")

HEX64 = re.compile(r"[0-9a-f]{64}")

RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


class Malformed(Exception):
    """A line, or a record's bytes, that cannot be read."""


def chain_hash(seq, prev_hash, record):
    """The hash an entry must carry: hex SHA-256 over its number, the previous
    entry's hash and the record's bytes."""
    h = hashlib.sha256()
    h.update(seq.to_bytes(8, "big"))
    h.update(prev_hash.encode("ascii"))
    h.update(record)
    return h.hexdigest()


# --- The record's bytes ----------------------------------------------------


class Reader:
    """Reads the postcard encoding of a record, front to back."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self, what):
        if self.pos >= len(self.data):
            raise Malformed("the record ends inside " + what)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, bits, what):
        """An unsigned LEB128 varint of at most `bits` bits: seven bits a
        byte, low first, the top bit set on every byte but the last."""
        max_bytes = (bits + 6) // 7
        value = 0
        for i in range(max_bytes):
            b = self.byte(what)
            value |= (b & 0x7F) << (7 * i)
            if b & 0x80 == 0:
                if value >> bits:
                    raise Malformed(what + " does not fit in %d bits" % bits)
                return value
        raise Malformed(what + " is a varint longer than %d bytes" % max_bytes)

    def signed(self, bits, what):
        """A zigzag-encoded signed integer: 0, -1, 1, -2, ... are 0, 1, 2, 3, ..."""
        z = self.varint(bits, what)
        return (z >> 1) ^ -(z & 1)

    def text(self, what):
        length = self.varint(64, "the length of " + what)
        if length > len(self.data) - self.pos:
            raise Malformed("the record ends inside " + what)
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(what + " is not UTF-8") from None

    def optional_text(self, what):
        tag = self.byte(what)
        if tag == 0:
            return None
        if tag == 1:
            return self.text(what)
        raise Malformed("%s has the tag %d, not 0 (none) or 1 (some)" % (what, tag))


def decode_record(data):
    """The fields a record's bytes hold: a dict with `at` as (seconds,
    nanoseconds) and the four strings (referral may be None). A record of
    version 3 holds the outcome's code as `outcome` and the detail's SHA-256
    as `digest`."""
    if not data:
        raise Malformed("the record is empty")
    if data[:1] == b"{":
        return decode_first_format(data)
    r = Reader(data)
    version = r.byte("the version")
    if version == DIGEST_VERSION:
        if len(data) < 5:
            raise Malformed("the record ends inside the length of its header")
        header_end = 5 + int.from_bytes(data[1:5], "big")
        if header_end > len(data):
            raise Malformed("the record ends inside its header")
        r = Reader(data[:header_end])
        r.pos = 5
    elif version != WHOLE_VERSION:
        raise Malformed(
            "the record is of format version %d, not %d or %d" % (version, WHOLE_VERSION, DIGEST_VERSION)
        )
    seconds = r.signed(64, "the seconds of at")
    nanos = r.signed(32, "the nanoseconds of at")
    if not -999_999_999 <= nanos <= 999_999_999:
        raise Malformed("the nanoseconds of at (%d) are a second or more" % nanos)
    record = {
        "at": (seconds, nanos),
        "actor": r.text("actor"),
        "action": r.text("action"),
        "referral": r.optional_text("referral"),
        "outcome": r.text("outcome"),
    }
    if r.pos != len(r.data):
        raise Malformed("%d bytes follow the %s" % (len(r.data) - r.pos, "header" if version == DIGEST_VERSION else "record"))
    if version == DIGEST_VERSION:
        digest = data[header_end:]
        if len(digest) != 32:
            raise Malformed(
                "the detail's digest after the header is %d bytes, not 32" % len(digest)
            )
        record["digest"] = digest
    return record


def join_outcome(code, detail):
    """The outcome a line shows for a code and a detail: the code, then `: `
    and the detail when there is one."""
    return code + ": " + detail if detail else code


def decode_first_format(data):
    """A record of the first format: its JSON, which a store migrated from
    schema 1 keeps for the entries written before, because those bytes are
    what their hashes cover."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Malformed("the record starts with '{' but is not JSON: %s" % e) from None
    if not isinstance(obj, dict):
        raise Malformed("the record's JSON is not an object")
    record = {}
    for key in ("actor", "action", "outcome"):
        if not isinstance(obj.get(key), str):
            raise Malformed("the record's JSON has no string %s" % key)
        record[key] = obj[key]
    referral = obj.get("referral")
    if referral is not None and not isinstance(referral, str):
        raise Malformed("the record's JSON has a referral that is not a string")
    record["referral"] = referral
    if not isinstance(obj.get("at"), str):
        raise Malformed("the record's JSON has no string at")
    try:
        record["at"] = parse_instant(obj["at"])
    except ValueError as e:
        raise Malformed("the record's JSON at: %s" % e) from None
    return record


# --- Instants ---------------------------------------------------------------


def parse_instant(text):
    """(seconds since 1970, nanoseconds) of an RFC 3339 instant, exactly: the
    fraction's digits are read as an integer, never as a float."""
    m = RFC3339.fullmatch(text)
    if not m:
        raise ValueError("%r is not an RFC 3339 instant" % text)
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    fraction = m.group(7) or ""
    if year < 1:
        raise ValueError("%r is before year 1" % text)
    if not 1 <= month <= 12:
        raise ValueError("%r has month %d" % (text, month))
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValueError("%r has day %d" % (text, day))
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("%r has a time of day out of range" % text)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds, nanos


def total_nanos(instant):
    """One number for an instant, whichever way its seconds and nanoseconds
    split it (the gateway gives an instant before 1970 negative nanoseconds)."""
    seconds, nanos = instant
    return seconds * 1_000_000_000 + nanos


def show_instant(instant):
    """An instant as RFC 3339 in UTC, to the nanosecond."""
    seconds, nanos = divmod(total_nanos(instant), 1_000_000_000)
    try:
        whole = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "%d s and %d ns since 1970" % instant
    text = whole.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + ("%09d" % nanos).rstrip("0")
    return text + "Z"


# --- Lines ------------------------------------------------------------------


class Entry:
    """One well-formed line: what the chain checks need of it."""

    def __init__(self, line, seq, prev_hash, hash_, fields, record, detail):
        self.line = line
        self.seq = seq
        self.prev_hash = prev_hash
        self.hash = hash_
        self.fields = fields
        self.record = record
        self.detail = detail


def read_entry(line_no, text):
    """Parses one line; raises Malformed with the reason it cannot be read."""
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise Malformed("not JSON (%s)" % e) from None
    if not isinstance(obj, dict):
        raise Malformed("not a JSON object")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise Malformed("no " + ", ".join(missing))
    seq = obj["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**64:
        raise Malformed("seq is not a whole number from 0 to 2^64 - 1")
    for key in ("prev_hash", "hash"):
        if not isinstance(obj[key], str) or not HEX64.fullmatch(obj[key]):
            raise Malformed("%s is not 64 lowercase hex digits" % key)
    for key in ("at", "actor", "action", "outcome", "record"):
        if not isinstance(obj[key], str):
            raise Malformed("%s is not a string" % key)
    if obj["referral"] is not None and not isinstance(obj["referral"], str):
        raise Malformed("referral is neither a string nor null")
    detail = obj.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise Malformed("detail is neither a string nor null")
    if detail is not None:
        try:
            detail.encode("utf-8")
        except UnicodeEncodeError:
            raise Malformed("detail is not text (it holds a lone surrogate)") from None
    try:
        at = parse_instant(obj["at"])
    except ValueError as e:
        raise Malformed("at: %s" % e) from None
    try:
        record = base64.b64decode(obj["record"], validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("record is not standard base64") from None
    fields = {
        "at": at,
        "actor": obj["actor"],
        "action": obj["action"],
        "referral": obj["referral"],
        "outcome": obj["outcome"],
    }
    return Entry(line_no, seq, obj["prev_hash"], obj["hash"], fields, record, detail)


def quote(key, value):
    if key == "at":
        return show_instant(value)
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def check_contents(entry, report):
    """The entry's own checks: its hash, and its fields against its bytes."""
    n = entry.seq
    if chain_hash(n, entry.prev_hash, entry.record) != entry.hash:
        report(entry.line, "entry %d: its hash does not match its contents (tampered)" % n)
    try:
        hashed = decode_record(entry.record)
    except Malformed as e:
        report(entry.line, "entry %d: its record cannot be read: %s" % (n, e))
        return
    if "digest" in hashed:
        # The detail is not in the hashed bytes but its digest is: a kept
        # detail must match it; a purged one (null) leaves the code alone.
        detail = entry.detail
        if detail is not None and hashlib.sha256(detail.encode("utf-8")).digest() != hashed["digest"]:
            report(
                entry.line,
                "entry %d: its detail does not match the digest its hashed record holds (tampered)" % n,
            )
        hashed["outcome"] = join_outcome(hashed["outcome"], detail or "")
    for key in ("at", "actor", "action", "referral", "outcome"):
        said, held = entry.fields[key], hashed[key]
        same = total_nanos(said) == total_nanos(held) if key == "at" else said == held
        if not same:
            report(
                entry.line,
                "entry %d: field %s says %s, its hashed record says %s"
                % (n, key, quote(key, said), quote(key, held)),
            )


def verify(lines):
    """Checks the lines of an export. Returns (problems, entries): the
    problems in the order of the lines they concern, and the well-formed
    entries in file order."""
    problems = []

    def report(line, message):
        problems.append((line, len(problems), message))

    entries = []
    for line_no, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            report(line_no, "line %d: not UTF-8" % line_no)
            continue
        if not text.strip():
            continue
        try:
            entry = read_entry(line_no, text)
        except Malformed as e:
            report(line_no, "line %d: %s" % (line_no, e))
            continue
        check_contents(entry, report)
        entries.append(entry)

    # Where each number is, and the order of the lines.
    by_seq = {}
    highest = None
    for entry in entries:
        n = entry.seq
        if n in by_seq:
            report(
                entry.line,
                "entry %d appears more than once (lines %d and %d)" % (n, by_seq[n].line, entry.line),
            )
            continue
        by_seq[n] = entry
        if highest is not None and n < highest.seq:
            report(entry.line, "entry %d is out of order (after entry %d)" % (n, highest.seq))
        if highest is None or n > highest.seq:
            highest = entry

    # The links: each entry to the entry numbered before it, wherever that
    # entry is in the file; a chain's first entry to the genesis hash.
    for n, entry in by_seq.items():
        if n == 0:
            if entry.prev_hash != GENESIS:
                report(
                    entry.line,
                    "entry 0: its prev_hash is not 64 zeros, as a chain's first entry's is",
                )
        elif n - 1 in by_seq and entry.prev_hash != by_seq[n - 1].hash:
            report(
                entry.line,
                "entry %d does not follow entry %d (its prev_hash is not that entry's hash)"
                % (n, n - 1),
            )

    # The numbers missing between the lowest and the highest.
    present = sorted(by_seq)
    for before, after in zip(present, present[1:]):
        if after - before > 1:
            first, last = before + 1, after - 1
            if first == last:
                message = "entry %d is missing (removed)" % first
            else:
                message = "entries %d..%d are missing (removed)" % (first, last)
            report(by_seq[after].line, message)

    problems.sort()
    return [message for _, _, message in problems], entries


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check an exported range of the mediation gateway's audit chain.",
    )
    parser.add_argument("export", help="the export: JSON lines, or - for standard input")
    args = parser.parse_args(argv)
    try:
        if args.export == "-":
            lines = sys.stdin.buffer.read().splitlines()
        else:
            with open(args.export, "rb") as f:
                lines = f.read().splitlines()
    except OSError as e:
        print("verify_audit: cannot read %s: %s" % (args.export, e.strerror or e), file=sys.stderr)
        return 2

    problems, entries = verify(lines)
    if not entries and not problems:
        problems = ["the export holds no entries"]
    for message in problems:
        print(message)
    if problems:
        print("%d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
        return 1
    seqs = [e.seq for e in entries]
    print(
        "verified %d entries, seq %d..%d, last hash %s"
        % (len(entries), min(seqs), max(seqs), max(entries, key=lambda e: e.seq).hash)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
