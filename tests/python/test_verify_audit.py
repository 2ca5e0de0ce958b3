"""Tests of verify_audit.py, the stand-alone checker of an exported range of
the audit chain.

The chains here are made by an encoder of this file, written from the byte
layout in docs/security.md ("Checking the trail yourself") and sharing no
code with the checker's decoder, so that a misreading of the layout in one
of the two shows up as a failure. It also pins the worked example of that
section: the bytes and hashes printed there are the ones this encoder makes.

Run from the repository's root, with the standard library only:

    python3 -m unittest tests/python/test_verify_audit.py
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFIER = os.path.join(HERE, "verify_audit.py")
SECURITY_DOC = os.path.join(HERE, "..", "..", "docs", "security.md")

ZEROS = "0" * 64


# --- An encoder of the documented layout ------------------------------------


def leb128(n):
    """Unsigned LEB128: seven bits a byte, least significant first, the top
    bit set on every byte but the last."""
    assert n >= 0
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def zigzag(n, bits):
    """Maps a signed integer to an unsigned one: 0, -1, 1, -2 → 0, 1, 2, 3."""
    return ((n << 1) ^ (n >> (bits - 1))) & ((1 << bits) - 1)


def string(s):
    raw = s.encode("utf-8")
    return leb128(len(raw)) + raw


def fields(seconds, nanos, actor, action, referral, last):
    out = leb128(zigzag(seconds, 64)) + leb128(zigzag(nanos, 32))
    out += string(actor) + string(action)
    out += b"\x00" if referral is None else b"\x01" + string(referral)
    return out + string(last)


def encode_whole(seconds, nanos, actor, action, referral, outcome):
    """A record of version 2, hashed whole with its outcome."""
    return bytes([0x02]) + fields(seconds, nanos, actor, action, referral, outcome)


def split_outcome(outcome):
    """The code and the detail: split at the first ": " with text after it."""
    code, sep, detail = outcome.partition(": ")
    return (code, detail) if sep and detail else (outcome, "")


def encode_record(seconds, nanos, actor, action, referral, outcome):
    """The hashed bytes of a record of version 3: the header (the outcome's
    code in place of the outcome) after its length, then the detail's
    SHA-256."""
    code, detail = split_outcome(outcome)
    header = fields(seconds, nanos, actor, action, referral, code)
    digest = hashlib.sha256(detail.encode("utf-8")).digest()
    return bytes([0x03]) + len(header).to_bytes(4, "big") + header + digest


def entry_hash(seq, prev_hash, record):
    return hashlib.sha256(u64_big_endian(seq) + prev_hash.encode("ascii") + record).hexdigest()


def u64_big_endian(n):
    return bytes((n >> (8 * (7 - i))) & 0xFF for i in range(8))


def chain(records, first_seq=0, prev_hash=ZEROS):
    """Export lines (as dicts) chaining `records`: tuples of the `at` text,
    its seconds and nanoseconds, actor, action, referral and outcome."""
    lines = []
    for i, (at, seconds, nanos, actor, action, referral, outcome) in enumerate(records):
        seq = first_seq + i
        record = encode_record(seconds, nanos, actor, action, referral, outcome)
        h = entry_hash(seq, prev_hash, record)
        lines.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "referral": referral,
                "outcome": outcome,
                "prev_hash": prev_hash,
                "hash": h,
                "record": base64.b64encode(record).decode("ascii"),
                "detail": split_outcome(outcome)[1],
            }
        )
        prev_hash = h
    return lines


def purged(line):
    """The line as an export gives it once the entry's detail is purged."""
    return dict(line, outcome=split_outcome(line["outcome"])[0], detail=None)


def rehash(line):
    """The line with its hash recomputed from its own record, as a forger
    who knows the formula would do."""
    record = base64.b64decode(line["record"])
    return dict(line, hash=entry_hash(line["seq"], line["prev_hash"], record))


# 2026-12-07T08:00:00Z is 1,796,630,400 seconds after 1970.
T0 = 1_796_630_400
COURT = "tenant=court-bj sub=clerk-7 cert=CN=court-bj sha256:9f86d081884c7d65"
SUBMIT = "call /mediation.court.v1.CourtGateway/SubmitReferral"
REFERRAL = "01JABCDEFGHJKMNPQRSTVWXYZ0"

RECORDS = [
    ("2026-12-07T08:00:00Z", T0, 0, COURT, SUBMIT, REFERRAL, "ok"),
    ("2026-12-07T08:00:00.5Z", T0, 500_000_000, COURT, "call /mediation.court.v1.CourtGateway/GetTimeline", REFERRAL, "ok"),
    ("2026-12-07T08:00:01.123456789Z", T0 + 1, 123_456_789, COURT, SUBMIT, None, "InvalidArgument: bundle.consents is empty"),
    ("2026-12-07T08:01:00.000000001Z", T0 + 60, 1, "gateway", "acceptance_breach", REFERRAL, "ok"),
    ("2026-12-07T09:00:00Z", T0 + 3600, 0, "tenant=劳动仲裁 sub=调解员-3 cert=none", "console 查看", None, "ok"),
    ("2026-12-08T00:00:00.25Z", T0 + 57_600, 250_000_000, COURT, SUBMIT, REFERRAL, "PermissionDenied: not this tenant's referral"),
]


# --- The worked example of docs/security.md ----------------------------------

EXAMPLE_ACTOR = "tenant=operators sub=auditor-1 cert=none"
EXAMPLE_ACTION = "call /mediation.operations.v1.Operations/QueryAudit"
EXAMPLE = [
    ("2026-12-07T08:00:00Z", T0, 0, EXAMPLE_ACTOR, EXAMPLE_ACTION, None, "ok"),
    ("2026-12-07T08:00:02.5Z", T0 + 2, 500_000_000, COURT, SUBMIT, REFERRAL, "InvalidArgument: bundle.consents is empty"),
]
EXAMPLE_RECORD_0 = (
    "03 00 00 00 67 80 9e b3 b1 0d 00 28 74 65 6e 61 "
    "6e 74 3d 6f 70 65 72 61 74 6f 72 73 20 73 75 62 "
    "3d 61 75 64 69 74 6f 72 2d 31 20 63 65 72 74 3d "
    "6e 6f 6e 65 33 63 61 6c 6c 20 2f 6d 65 64 69 61 "
    "74 69 6f 6e 2e 6f 70 65 72 61 74 69 6f 6e 73 2e "
    "76 31 2e 4f 70 65 72 61 74 69 6f 6e 73 2f 51 75 "
    "65 72 79 41 75 64 69 74 00 02 6f 6b e3 b0 c4 42 "
    "98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 "
    "64 9b 93 4c a4 95 99 1b 78 52 b8 55"
)
EXAMPLE_HASH_0 = "45c07c400a6c684d7bfd153714d0e4a35ad2b4ccaaba727df9c70d750ee3fb0e"
EXAMPLE_HASH_1 = "6df9039f5b93e5b7d87b4654313a363543f437e2b38ae38d423d068b26600f9a"


def run(lines, *extra):
    """Runs the checker on the lines (dicts are written as JSON) through
    standard input; returns its exit status and output lines."""
    text = "".join((json.dumps(l, ensure_ascii=False) if isinstance(l, dict) else l) + "\n" for l in lines)
    done = subprocess.run(
        [sys.executable, VERIFIER, "-", *extra],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=60,
    )
    return done.returncode, done.stdout.decode("utf-8").splitlines()


class TheEncoder(unittest.TestCase):
    def test_zigzag_and_leb128_are_postcards(self):
        self.assertEqual(leb128(0), b"\x00")
        self.assertEqual(leb128(127), b"\x7f")
        self.assertEqual(leb128(128), b"\x80\x01")
        self.assertEqual(leb128(300), b"\xac\x02")
        self.assertEqual([zigzag(n, 32) for n in (0, -1, 1, -2, 2)], [0, 1, 2, 3, 4])
        self.assertEqual(zigzag(-(2**63), 64), 2**64 - 1)
        self.assertEqual(zigzag(2**63 - 1, 64), 2**64 - 2)


class AnIntactChain(unittest.TestCase):
    def test_passes_and_says_what_it_verified(self):
        lines = chain(RECORDS)
        code, out = run(lines)
        self.assertEqual(out, ["verified 6 entries, seq 0..5, last hash %s" % lines[-1]["hash"]])
        self.assertEqual(code, 0)

    def test_a_range_may_start_anywhere(self):
        lines = chain(RECORDS)[2:5]
        code, out = run(lines)
        self.assertEqual(out, ["verified 3 entries, seq 2..4, last hash %s" % lines[-1]["hash"]])
        self.assertEqual(code, 0)

    def test_a_file_is_read_too(self):
        lines = chain(RECORDS)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trail.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for l in lines:
                    f.write(json.dumps(l) + "\n")
            done = subprocess.run([sys.executable, VERIFIER, path], capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stdout)

    def test_unknown_keys_and_blank_lines_are_ignored(self):
        lines = [dict(l, chain=0) for l in chain(RECORDS)]
        code, _ = run([lines[0], "", lines[1], "   "] + lines[2:])
        self.assertEqual(code, 0)

    def test_an_instant_may_be_written_with_an_offset_or_trailing_zeros(self):
        lines = chain(RECORDS)
        lines[1]["at"] = "2026-12-07T16:00:00.500000000+08:00"
        self.assertEqual(run(lines)[0], 0)

    def test_a_record_of_the_first_format_is_read_as_its_json(self):
        # A store migrated from schema 1 keeps the JSON its old entries hashed.
        first = json.dumps(
            {"at": "2026-12-07T08:00:00.5Z", "actor": COURT, "action": SUBMIT, "referral": None, "outcome": "ok"},
            separators=(",", ":"),
        ).encode("utf-8")
        line = {
            "seq": 0,
            "at": "2026-12-07T08:00:00.5Z",
            "actor": COURT,
            "action": SUBMIT,
            "referral": None,
            "outcome": "ok",
            "prev_hash": ZEROS,
            "hash": entry_hash(0, ZEROS, first),
            "record": base64.b64encode(first).decode("ascii"),
        }
        rest = chain(RECORDS[1:], first_seq=1, prev_hash=line["hash"])
        self.assertEqual(run([line] + rest)[0], 0)
        code, out = run([dict(line, outcome="rejected")] + rest)
        self.assertEqual(code, 1)
        self.assertIn('entry 0: field outcome says "rejected", its hashed record says "ok"', out)


class ATamperedChain(unittest.TestCase):
    def test_an_outcome_changed_in_both_the_line_and_the_bytes_breaks_the_hash(self):
        lines = chain(RECORDS)
        forged = chain([RECORDS[2][:6] + ("ok",)], first_seq=2, prev_hash=lines[1]["hash"])[0]
        lines[2] = dict(forged, hash=lines[2]["hash"])
        code, out = run(lines)
        self.assertEqual(out, ["entry 2: its hash does not match its contents (tampered)", "1 problem"])
        self.assertEqual(code, 1)

    def test_an_entry_rehashed_after_a_change_no_longer_links_the_next(self):
        lines = chain(RECORDS)
        forged = chain([RECORDS[2][:6] + ("ok",)], first_seq=2, prev_hash=lines[1]["hash"])[0]
        lines[2] = rehash(forged)
        code, out = run(lines)
        self.assertEqual(
            out,
            ["entry 3 does not follow entry 2 (its prev_hash is not that entry's hash)", "1 problem"],
        )
        self.assertEqual(code, 1)

    def test_a_field_of_the_line_changed_but_not_its_bytes(self):
        lines = chain(RECORDS)
        lines[2]["outcome"] = "ok"
        code, out = run(lines)
        self.assertEqual(
            out,
            [
                'entry 2: field outcome says "ok", its hashed record says '
                '"InvalidArgument: bundle.consents is empty"',
                "1 problem",
            ],
        )
        self.assertEqual(code, 1)

    def test_each_readable_field_is_held_to_the_bytes(self):
        changes = {
            "actor": "tenant=court-sh sub=clerk-7 cert=none",
            "action": SUBMIT + "s",
            "referral": None,
            "outcome": "ok ",
            "at": "2026-12-07T08:00:00.500000001Z",
        }
        for key, value in changes.items():
            with self.subTest(key):
                lines = chain(RECORDS)
                lines[1][key] = value
                code, out = run(lines)
                self.assertEqual(code, 1)
                self.assertEqual(len(out), 2, out)
                self.assertTrue(out[0].startswith("entry 1: field %s says " % key), out)

    def test_an_instant_is_compared_to_the_nanosecond(self):
        lines = chain(RECORDS)
        lines[2]["at"] = "2026-12-07T08:00:01.123456788Z"
        code, out = run(lines)
        self.assertEqual(
            out[0],
            "entry 2: field at says 2026-12-07T08:00:01.123456788Z, "
            "its hashed record says 2026-12-07T08:00:01.123456789Z",
        )

    def test_a_removed_entry_is_named(self):
        lines = chain(RECORDS)
        del lines[2]
        code, out = run(lines)
        self.assertEqual(out, ["entry 2 is missing (removed)", "1 problem"])
        self.assertEqual(code, 1)

    def test_removed_entries_are_named_as_a_range(self):
        lines = chain(RECORDS)
        del lines[1:4]
        code, out = run(lines)
        self.assertEqual(out, ["entries 1..3 are missing (removed)", "1 problem"])

    def test_swapped_entries_are_out_of_order(self):
        lines = chain(RECORDS)
        lines[2], lines[3] = lines[3], lines[2]
        code, out = run(lines)
        self.assertEqual(out, ["entry 2 is out of order (after entry 3)", "1 problem"])
        self.assertEqual(code, 1)

    def test_a_repeated_entry_is_named(self):
        lines = chain(RECORDS)
        code, out = run(lines[:3] + [lines[2]] + lines[3:])
        self.assertEqual(out, ["entry 2 appears more than once (lines 3 and 4)", "1 problem"])

    def test_a_chain_start_must_link_to_zeros(self):
        lines = chain(RECORDS, prev_hash="1" * 64)
        code, out = run(lines)
        self.assertEqual(
            out, ["entry 0: its prev_hash is not 64 zeros, as a chain's first entry's is", "1 problem"]
        )

    def test_every_problem_is_reported(self):
        lines = chain(RECORDS)
        lines[0]["actor"] = "someone else"
        lines[3]["hash"] = "f" * 64
        del lines[5]
        lines.append(chain(RECORDS, first_seq=6)[0])
        code, out = run(lines)
        self.assertEqual(code, 1)
        self.assertEqual(
            out,
            [
                'entry 0: field actor says "someone else", its hashed record says "%s"' % COURT,
                "entry 3: its hash does not match its contents (tampered)",
                "entry 4 does not follow entry 3 (its prev_hash is not that entry's hash)",
                "entry 5 is missing (removed)",
                "4 problems",
            ],
        )


class APurgedDetail(unittest.TestCase):
    """A record of version 3 hashes the digest of its outcome's detail, so
    the detail can be purged and the chain still verify."""

    def test_a_chain_with_purged_details_verifies(self):
        lines = chain(RECORDS)
        lines[2] = purged(lines[2])
        lines[5] = purged(lines[5])
        self.assertEqual(lines[2]["outcome"], "InvalidArgument")
        code, out = run(lines)
        self.assertEqual(out, ["verified 6 entries, seq 0..5, last hash %s" % lines[-1]["hash"]])
        self.assertEqual(code, 0)

    def test_a_changed_detail_no_longer_matches_its_digest(self):
        lines = chain(RECORDS)
        lines[2]["detail"] = "bundle.consents is complete"
        lines[2]["outcome"] = "InvalidArgument: bundle.consents is complete"
        code, out = run(lines)
        self.assertEqual(
            out,
            ["entry 2: its detail does not match the digest its hashed record holds (tampered)", "1 problem"],
        )
        self.assertEqual(code, 1)

    def test_an_outcome_must_say_no_more_than_the_detail_kept(self):
        lines = chain(RECORDS)
        lines[2]["detail"] = None
        code, out = run(lines)
        self.assertEqual(
            out[0],
            'entry 2: field outcome says "InvalidArgument: bundle.consents is empty", '
            'its hashed record says "InvalidArgument"',
        )
        self.assertEqual(code, 1)

    def test_a_detail_that_is_not_text_is_named(self):
        line = dict(chain(RECORDS)[2], detail=7)
        code, out = run([line])
        self.assertEqual(out[0], "line 1: detail is neither a string nor null")
        line = json.dumps(chain(RECORDS)[2]).replace('"detail": "', '"detail": "\\ud800')
        code, out = run([line])
        self.assertEqual(code, 1)
        self.assertEqual(out[0], "line 1: detail is not text (it holds a lone surrogate)")


class AnUnreadableExport(unittest.TestCase):
    def test_a_malformed_line_is_named_by_its_line(self):
        lines = chain(RECORDS)
        without_hash = dict(lines[3])
        del without_hash["hash"]
        code, out = run(lines[:2] + ["{not json"] + [without_hash] + lines[4:])
        self.assertEqual(code, 1)
        self.assertTrue(out[0].startswith("line 3: not JSON"), out)
        self.assertEqual(out[1], "line 4: no hash")

    def test_bad_values_are_named(self):
        cases = {
            "seq": (-1, "line 1: seq is not a whole number"),
            "hash": ("AB" * 32, "line 1: hash is not 64 lowercase hex digits"),
            "at": ("2026-12-07 08:00:00", "line 1: at: "),
            "record": ("AgA", "line 1: record is not standard base64"),
            "referral": (7, "line 1: referral is neither a string nor null"),
        }
        for key, (value, expected) in cases.items():
            with self.subTest(key):
                line = dict(chain(RECORDS)[0], **{key: value})
                code, out = run([line])
                self.assertEqual(code, 1)
                self.assertTrue(out[0].startswith(expected), out)

    def test_bytes_that_are_not_a_record_are_named(self):
        current = encode_record(T0, 0, "a", "b", None, "ok")
        cases = {
            b"": "the record is empty",
            b"\x04": "the record is of format version 4, not 2 or 3",
            b"\x02\x80": "the record ends inside the seconds of at",
            encode_whole(T0, 0, "a", "b", None, "ok") + b"\x00": "1 bytes follow the record",
            encode_whole(T0, 0, "a", "b", None, "ok")[:-1]: "the record ends inside outcome",
            encode_whole(T0, 0, "a", "b", None, "ok").replace(b"\x00\x02ok", b"\x02\x02ok"): "referral has the tag 2",
            encode_whole(T0, 1_000_000_000, "a", "b", None, "ok"): "the nanoseconds of at",
            b"\x03\x00\x00": "the record ends inside the length of its header",
            b"\x03\x00\x00\x01\x00" + current[5:]: "the record ends inside its header",
            current + b"\x00": "the detail's digest after the header is 33 bytes, not 32",
            current[:-1]: "the detail's digest after the header is 31 bytes, not 32",
        }
        for record, expected in cases.items():
            with self.subTest(expected):
                line = {
                    "seq": 0,
                    "at": "2026-12-07T08:00:00Z",
                    "actor": "a",
                    "action": "b",
                    "referral": None,
                    "outcome": "ok",
                    "prev_hash": ZEROS,
                    "hash": entry_hash(0, ZEROS, record),
                    "record": base64.b64encode(record).decode("ascii"),
                }
                code, out = run([line])
                self.assertEqual(code, 1)
                self.assertTrue(out[0].startswith("entry 0: its record cannot be read: " + expected), out)

    def test_an_empty_export_proves_nothing(self):
        code, out = run([])
        self.assertEqual(out, ["the export holds no entries", "1 problem"])
        self.assertEqual(code, 1)

    def test_usage_errors_exit_2(self):
        done = subprocess.run([sys.executable, VERIFIER], capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        done = subprocess.run(
            [sys.executable, VERIFIER, os.path.join(HERE, "no-such-export.jsonl")],
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 2)


SAMPLES = os.path.join(HERE, "..", "..", "crates", "store", "src", "samples")


def pinned_sample(version, kind):
    """A record the gateway's store wrote, as its pinned samples keep it
    (crates/store/src/samples/vN.txt: a kind, a tab, the value)."""
    with open(os.path.join(SAMPLES, "v%d.txt" % version), encoding="utf-8") as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("\t")
            if name == kind:
                return value
    raise AssertionError("no %s sample in v%d.txt" % (kind, version))


def split_link(data):
    """The stored link of the on-disk store's chain (its version byte, then
    prev_hash, hash and the record, each a length and its bytes)."""
    assert data[0] == 0x02
    pos, parts = 1, []
    for _ in range(3):
        length, shift = 0, 0
        while True:
            b = data[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        parts.append(data[pos : pos + length])
        pos += length
    assert pos == len(data)
    return parts[0].decode("ascii"), parts[1].decode("ascii"), parts[2]


class WhatTheGatewayWrote(unittest.TestCase):
    """The store's pinned samples were written by the Rust code; the layout
    documented, this encoder and the checker must agree with them."""

    SAMPLE_AT = ("2025-03-03T01:00:00Z", 1_740_963_600, 0)
    SAMPLE_FIELDS = ("tenant=court-bj sub=svc cert=none", "submit_referral", "01JD0000000000000000000000", "ok")

    def test_a_record_hashed_whole(self):
        prev_hash, hash_, record = split_link(bytes.fromhex(pinned_sample(5, "audit")))
        self.assertEqual(record, encode_whole(*self.SAMPLE_AT[1:], *self.SAMPLE_FIELDS))
        self.assertEqual(prev_hash, ZEROS)
        self.assertEqual(hash_, entry_hash(0, ZEROS, record))

    def test_a_record_of_the_current_format(self):
        prev_hash, hash_, record = split_link(bytes.fromhex(pinned_sample(6, "audit")))
        self.assertEqual(record, encode_record(*self.SAMPLE_AT[1:], *self.SAMPLE_FIELDS))
        self.assertEqual(prev_hash, ZEROS)
        self.assertEqual(hash_, entry_hash(0, ZEROS, record))
        [line] = chain([self.SAMPLE_AT + self.SAMPLE_FIELDS])
        self.assertEqual(line["hash"], hash_)
        self.assertEqual(run([line])[0], 0)

    def test_a_detail_kept_beside_its_digest_and_purged(self):
        detail = "party 张三 did not sign"
        fields = (
            "tenant=ccpit sub=svc cert=none",
            "call /mediation.ccpit.v1.CcpitPlatform/RecordAgreement",
            "01JD0000000000000000000000",
            "FailedPrecondition: " + detail,
        )
        [line] = chain([self.SAMPLE_AT + fields])
        hashed = base64.b64decode(line["record"])
        _, hash_, stored = split_link(bytes.fromhex(pinned_sample(6, "audit/detail")))
        # The store keeps the detail after the hashed bytes; the hash covers
        # only those.
        self.assertEqual(stored, hashed + detail.encode("utf-8"))
        self.assertEqual(hash_, line["hash"])
        _, hash_, stored = split_link(bytes.fromhex(pinned_sample(6, "audit/purged")))
        self.assertEqual(stored, hashed)
        self.assertEqual(hash_, line["hash"])
        self.assertEqual(run([line])[0], 0)
        self.assertEqual(run([purged(line)])[0], 0)

    def test_a_record_of_the_first_format(self):
        stored = json.loads(pinned_sample(1, "audit"))
        first = json.dumps(stored["record"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        line = dict(
            stored["record"],
            seq=stored["seq"],
            prev_hash=stored["prev_hash"],
            hash=stored["hash"],
            record=base64.b64encode(first).decode("ascii"),
        )
        code, out = run([line])
        self.assertEqual(code, 0, out)


class TheWorkedExample(unittest.TestCase):
    """docs/security.md prints these numbers; they must be what the
    documented layout and formula give."""

    def test_the_documented_bytes_and_hashes(self):
        lines = chain(EXAMPLE)
        record_0 = base64.b64decode(lines[0]["record"])
        record_1 = base64.b64decode(lines[1]["record"])
        self.assertEqual(record_0.hex(" "), EXAMPLE_RECORD_0)
        self.assertEqual([l["hash"] for l in lines], [EXAMPLE_HASH_0, EXAMPLE_HASH_1])
        with open(SECURITY_DOC, encoding="utf-8") as f:
            doc = f.read()
        for text in (
            wrap_hex(record_0),
            wrap_hex(record_1),
            lines[0]["hash"],
            lines[1]["hash"],
            json.dumps(lines[0], ensure_ascii=False),
            json.dumps(lines[1], ensure_ascii=False),
            json.dumps(purged(lines[1]), ensure_ascii=False),
        ):
            self.assertIn(text, doc)
        self.assertEqual(run(lines)[0], 0)


def wrap_hex(data, per_line=16):
    """Bytes as the documentation prints them: hex pairs, 16 to a line."""
    pairs = data.hex(" ").split(" ")
    return "\n".join(" ".join(pairs[i : i + per_line]) for i in range(0, len(pairs), per_line))


if __name__ == "__main__":
    unittest.main()
