"""A partner platform and a court system written in Python, driving one
referral through a running mediation gateway over mutual TLS.

It plays two roles with the code grpcio-tools generates from proto/:

* the court system: submits a referral, records the court's ruling and reads
  the referral's timeline back;
* the CCPIT commercial mediation platform: serves CcpitPlatform to receive the
  offer and the court's decision, and calls CcpitGateway to accept, settle and
  apply for judicial confirmation;
* the labour-dispute platform, for a 委托 (docketed) labour case under summary
  procedure with three parties (a worker, the employer and the labour
  dispatch agency): its mediation limit is 7 days (online rules Art. 24),
  checked against the gateway's own `deadline mediation` command, and its
  agreement takes effect only once all three have signed (LDMAL Art. 14).

It also checks that a refused request carries field-level details a client in
another language can read (google.rpc.BadRequest in grpc-status-details-bin).

Every step prints one line; any surprise raises, and the exit status is 1.
Run it through run.sh, which installs the packages and generates the code.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import json_format, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mediation.ccpit.v1 import ccpit_pb2 as cp
from mediation.ccpit.v1 import ccpit_pb2_grpc as cp_grpc
from mediation.court.v1 import court_pb2 as pb
from mediation.court.v1 import court_pb2_grpc as pb_grpc
from mediation.labour.v1 import labour_pb2 as lp
from mediation.labour.v1 import labour_pb2_grpc as lp_grpc

REPO = Path(__file__).resolve().parents[2]
CST = 8 * 3600

EXPECTED_TIMELINE = [
    "received",
    "routed",
    "offer_delivered",
    "accepted",
    "agreement_reached",
    "confirmation_applied",
    "ruling_recorded",
]


def say(step, text):
    print(f"[python] {step:<13} {text}", flush=True)


def fail(text):
    raise SystemExit(f"[python] FAILED: {text}")


def timestamp(seconds):
    return timestamp_pb2.Timestamp(seconds=int(seconds))


class Platform(cp_grpc.CcpitPlatformServicer):
    """The simulated CCPIT platform: what the gateway pushes to it."""

    def __init__(self):
        self.offers = queue.Queue()
        self.decisions = queue.Queue()

    def OfferCase(self, request, context):
        self.offers.put(request)
        return cp.Ack()

    def NotifyCourtDecision(self, request, context):
        self.decisions.put(request)
        return cp.Ack()


def wait_for(inbox, wanted, what, timeout):
    """The first message in `inbox` for which `wanted` holds; others are
    skipped (the gateway delivers at least once, so repeats are allowed)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"no {what} within {timeout} s")
        try:
            message = inbox.get(timeout=left)
        except queue.Empty:
            continue
        if wanted(message):
            return message


def bundle(court_referral_id, now):
    """A sales-contract dispute referred by a Beijing district court."""
    consent_at = timestamp(now - 86400)
    return pb.CaseBundle(
        court_referral_id=court_referral_id,
        court="京0105",
        kind=pb.REFERRAL_KIND_DELEGATED,
        cause_of_action="买卖合同纠纷",
        domain=pb.DISPUTE_DOMAIN_COMMERCIAL,
        parties=[
            pb.Party(
                reference="P1",
                role=pb.PARTY_ROLE_CLAIMANT,
                person=pb.PERSON_KIND_NATURAL,
                name="张三",
                identity=pb.Identity(
                    kind=pb.IDENTITY_KIND_RESIDENT_ID_CARD,
                    number="11010519491231002X",
                ),
                contact="13800000000",
                service_address="北京市朝阳区某街道1号",
            ),
            pb.Party(
                reference="P2",
                role=pb.PARTY_ROLE_RESPONDENT,
                person=pb.PERSON_KIND_LEGAL,
                name="某贸易有限公司",
                identity=pb.Identity(
                    kind=pb.IDENTITY_KIND_UNIFIED_SOCIAL_CREDIT_CODE,
                    number="91350100M000100Y43",
                ),
                contact="010-12345678",
                service_address="北京市海淀区某路2号",
            ),
        ],
        claims=[
            pb.Claim(
                description="支付货款及逾期付款利息",
                amount=pb.Money(amount="120000.00", currency="CNY"),
            )
        ],
        amount_in_dispute=pb.Money(amount="120000.00", currency="CNY"),
        consents=[
            pb.Consent(party="P1", given_at=consent_at, method=pb.CONSENT_METHOD_ONLINE),
            pb.Consent(party="P2", given_at=consent_at, method=pb.CONSENT_METHOD_WRITTEN),
        ],
        summary="被告未按约定支付货款，原告请求支付货款及利息。",
    )


def seven_day_due(gateway_bin, instant):
    """The gateway's own answer for a 委托 labour case under summary
    procedure accepted at `instant` (seconds): its last day, "YYYY-MM-DD"."""
    accepted_at = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(instant + CST))
    out = subprocess.run(
        [gateway_bin, "deadline", "mediation", "--accepted-at", accepted_at,
         "--kind", "entrusted", "--procedure", "summary",
         "--partner", "labour_arbitration",
         "--calendar-dir", str(REPO / "config" / "calendar"), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    answer = json.loads(out)
    if not answer["period"].startswith("7 days"):
        fail(f"the 委托 summary limit is not 7 days: {answer['period']}")
    return answer["due_date"]


def entrusted_labour_story(court, labour, as_court, as_labour, reference, gateway_bin):
    """A docketed (委托) labour case under summary procedure: 7 days."""
    case = json_format.Parse(
        (REPO / "crates/server/src/sim/cases/labour.json").read_text(encoding="utf-8"),
        pb.CaseBundle(),
    )
    case.court_referral_id = reference + "-LAB"
    case.kind = pb.REFERRAL_KIND_ENTRUSTED
    case.trial_stage = pb.TRIAL_STAGE_FIRST_INSTANCE
    case.procedure = pb.PROCEDURE_SUMMARY
    case.case_number = f"（{time.gmtime().tm_year}）京0105民初{int(time.time()) % 10**8}号"
    del case.documents[:]
    # The worker was sent by a labour dispatch agency, a third party.
    agency = case.parties.add()
    agency.CopyFrom(case.parties[1])
    agency.reference = "P3"
    agency.name = "某劳务派遣有限公司"
    agency.identity.number = "91110000100001234U"
    consent = case.consents.add()
    consent.CopyFrom(case.consents[1])
    consent.party = "P3"
    submitted = court.SubmitReferral(pb.SubmitReferralRequest(bundle=case), metadata=as_court)
    if submitted.status != pb.REFERRAL_STATUS_AWAITING_ACCEPTANCE:
        fail(f"the labour case is {pb.ReferralStatus.Name(submitted.status)}")
    view = court.GetReferral(
        pb.GetReferralRequest(referral_id=submitted.referral_id), metadata=as_court
    )
    say("entrusted", f"labour case {case.case_number} offered to {view.organisation}")
    before = time.time()
    state = labour.AcceptDispute(
        lp.AcceptDisputeRequest(
            dispute_id=submitted.referral_id,
            committee=view.organisation,
            mediator="m-python",
            file_number=f"朝劳调〔{time.gmtime().tm_year}〕{int(before) % 1000}号",
        ),
        metadata=as_labour,
    )
    after = time.time()
    # Around midnight the acceptance may fall on either day.
    expected = {seven_day_due(gateway_bin, before), seven_day_due(gateway_bin, after)}
    if state.mediate_by not in expected:
        fail(f"mediate by {state.mediate_by}, expected {' or '.join(sorted(expected))}")
    say("seven days", f"accepted; mediate by {state.mediate_by}, 7 days under summary procedure")

    signed_at = timestamp(time.time())
    parties = [
        lp.SigningParty(reference="P1", name="张三", document_type="ID_CARD",
                        document_number="11010519491231002X", signed_at=signed_at),
        lp.SigningParty(reference="P2", name="某贸易有限公司", document_type="USCC",
                        document_number="91350100M000100Y43", signed_at=signed_at),
    ]
    agreement = lp.SubmitMediationAgreementRequest(
        dispute_id=submitted.referral_id,
        committee=view.organisation,
        payments=[lp.Payment(kind=lp.CLAIM_KIND_UNPAID_WAGES, amount="12000.00")],
        payment_method="银行转账",
        pay_by=time.strftime("%Y-%m-%d", time.gmtime(time.time() + 20 * 86400)),
        mediator="m-python",
        mediator_signed_at=signed_at,
        committee_sealed_at=signed_at,
        disputed_matters="拖欠工资的支付主体及数额",
        parties=parties,
    )
    try:
        labour.SubmitMediationAgreement(agreement, metadata=as_labour)
        fail("an agreement two of three parties signed was recorded")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT or "P3" not in error.details():
            fail(f"a two-party agreement gave {error.code()}: {error.details()}")
    agreement.parties.append(
        lp.SigningParty(reference="P3", name="某劳务派遣有限公司", document_type="USCC",
                        document_number="91110000100001234U", signed_at=signed_at)
    )
    state = labour.SubmitMediationAgreement(agreement, metadata=as_labour)
    if state.status != "agreed":
        fail(f"after the three-party agreement the dispute is {state.status!r}")
    say("three parties", "agreement takes effect once worker, employer and agency signed")


def field_violations(error):
    """The BadRequest field violations carried by a refused call."""
    status = rpc_status.from_call(error)
    if status is None:
        fail(f"{error.code()} carried no status details: {error.details()}")
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend((v.field, v.description) for v in bad.field_violations)
    return fields


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--gateway", required=True, help="host:port of the gateway")
    args.add_argument("--pki", required=True, type=Path, help="the development PKI directory")
    args.add_argument("--platform-port", required=True, type=int,
                      help="where this client serves CcpitPlatform for the gateway's pushes")
    args.add_argument("--timeout", type=float, default=60.0,
                      help="seconds to wait for each push from the gateway")
    args = args.parse_args()
    court_token = os.environ.get("MG_COURT_TOKEN") or fail("MG_COURT_TOKEN is not set")
    platform_token = os.environ.get("MG_PLATFORM_TOKEN") or fail("MG_PLATFORM_TOKEN is not set")
    labour_token = os.environ.get("MG_LABOUR_TOKEN") or fail("MG_LABOUR_TOKEN is not set")
    gateway_bin = os.environ.get("MG_GATEWAY_BIN") or fail("MG_GATEWAY_BIN is not set")

    ca = (args.pki / "ca.pem").read_bytes()

    def credentials(who):
        return grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(args.pki / f"{who}.key.pem").read_bytes(),
            certificate_chain=(args.pki / f"{who}.pem").read_bytes(),
        )

    # The platform's own server, presenting its certificate and requiring the
    # gateway's, as the gateway requires the platform's.
    platform = Platform()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    cp_grpc.add_CcpitPlatformServicer_to_server(platform, server)
    server.add_secure_port(
        f"127.0.0.1:{args.platform_port}",
        grpc.ssl_server_credentials(
            [((args.pki / "ccpit.key.pem").read_bytes(), (args.pki / "ccpit.pem").read_bytes())],
            root_certificates=ca,
            require_client_auth=True,
        ),
    )
    server.start()
    say("platform", f"serving CcpitPlatform on 127.0.0.1:{args.platform_port}")

    court = pb_grpc.CourtGatewayStub(grpc.secure_channel(args.gateway, credentials("court-bj")))
    gateway = cp_grpc.CcpitGatewayStub(grpc.secure_channel(args.gateway, credentials("ccpit")))
    as_court = [("authorization", f"Bearer {court_token}")]
    as_platform = [("authorization", f"Bearer {platform_token}")]

    now = time.time()
    reference = f"PY-{int(now * 1000)}"

    # A bundle without the parties' consent is refused, naming the field.
    refused = bundle(reference + "-X", now)
    del refused.consents[:]
    try:
        court.SubmitReferral(pb.SubmitReferralRequest(bundle=refused), metadata=as_court)
        fail("a bundle without consent was accepted")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            fail(f"a bundle without consent gave {error.code()}: {error.details()}")
        fields = field_violations(error)
        if not any(field.startswith("bundle.consents") for field, _ in fields):
            fail(f"the refusal did not name bundle.consents: {fields}")
        say("refused", f"INVALID_ARGUMENT naming {', '.join(f for f, _ in fields)}")

    submitted = court.SubmitReferral(
        pb.SubmitReferralRequest(bundle=bundle(reference, now)), metadata=as_court
    )
    referral = submitted.referral_id
    if submitted.status != pb.REFERRAL_STATUS_AWAITING_ACCEPTANCE:
        fail(f"submitted referral is {pb.ReferralStatus.Name(submitted.status)}")
    say("submitted", f"{reference} is referral {referral}, awaiting acceptance")

    offer = wait_for(platform.offers, lambda o: o.case_id == referral, "offer", args.timeout)
    if offer.court_reference != reference:
        fail(f"offer names court reference {offer.court_reference!r}")
    centre = offer.mediation_centre
    say("offered", f"to centre {centre}, accept by {offer.accept_by.ToJsonString()}")

    state = gateway.AcceptCase(
        cp.AcceptCaseRequest(
            case_id=referral,
            mediation_centre=centre,
            mediator="m-python",
            centre_case_number=f"CCPIT-PY-{reference}",
        ),
        metadata=as_platform,
    )
    if state.state != "in_mediation":
        fail(f"after acceptance the case is {state.state!r}")
    say("accepted", f"in mediation, mediate by {state.mediate_by}")

    signed_at = timestamp(time.time())
    state = gateway.SubmitSettlement(
        cp.SubmitSettlementRequest(
            case_id=referral,
            mediation_centre=centre,
            parties=[
                cp.SettlementParty(reference="P1", name="张三", document_type="ID_CARD",
                                   document_number="11010519491231002X"),
                cp.SettlementParty(reference="P2", name="某贸易有限公司", document_type="USCC",
                                   document_number="91350100M000100Y43"),
            ],
            disputed_matters="货款支付",
            terms=["被申请人于三十日内支付货款100000元"],
            performance_method="银行转账",
            perform_by=time.strftime("%Y-%m-%d", time.gmtime(now + 30 * 86400)),
            signatures=[
                cp.Signature(signer_type="CENTRE", signer=centre, signed_at=signed_at),
                cp.Signature(signer_type="MEDIATOR", signer="m-python", signed_at=signed_at),
                cp.Signature(signer_type="PARTY", signer="P1", signed_at=signed_at),
                cp.Signature(signer_type="PARTY", signer="P2", signed_at=signed_at),
            ],
        ),
        metadata=as_platform,
    )
    if state.state != "agreed":
        fail(f"after the settlement the case is {state.state!r}")
    say("agreement", "settlement recorded")

    state = gateway.ApplyForConfirmation(
        cp.ApplyForConfirmationRequest(
            case_id=referral,
            mediation_centre=centre,
            applicants=["P1", "P2"],
            applied_at=timestamp(time.time()),
        ),
        metadata=as_platform,
    )
    say("confirmation", f"applied for judicial confirmation, case is {state.state}")

    court.RecordRuling(
        pb.RecordRulingRequest(
            referral_id=referral,
            court="京0105",
            outcome=pb.RULING_OUTCOME_CONFIRMED,
            case_number="（2026）京0105民特1号",
            ruled_at=timestamp(time.time()),
        ),
        metadata=as_court,
    )
    say("ruling", "the court confirmed the agreement")

    decision = wait_for(
        platform.decisions,
        lambda d: d.case_id == referral and d.HasField("ruling"),
        "court decision",
        args.timeout,
    )
    say("decision", f"platform told: {decision.ruling.outcome} {decision.ruling.court_case_number}")

    view = court.GetReferral(pb.GetReferralRequest(referral_id=referral), metadata=as_court)
    timeline = [entry.event for entry in view.timeline]
    # This platform accepts as soon as the offer arrives, which can be before
    # the gateway has recorded that the platform acknowledged it; the late
    # acknowledgement then records nothing, as the case is already accepted.
    accepted_first = [e for e in EXPECTED_TIMELINE if e != "offer_delivered"]
    if timeline not in (EXPECTED_TIMELINE, accepted_first):
        fail(f"timeline is {timeline}, expected {EXPECTED_TIMELINE}")
    say("timeline", " -> ".join(timeline))

    labour = lp_grpc.LabourGatewayStub(grpc.secure_channel(args.gateway, credentials("labour")))
    entrusted_labour_story(
        court, labour, as_court, [("authorization", f"Bearer {labour_token}")],
        reference, gateway_bin,
    )
    server.stop(grace=1).wait()
    say("done", f"referral {referral} went through the gateway from Python")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        sys.exit(f"[python] FAILED: call refused with {error.code()}: {error.details()}")
