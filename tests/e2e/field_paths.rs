//! Every field a refusal names is a field of the request, by its path in
//! that request. The test reads each served method's request message from
//! the contracts' descriptor set, builds requests from it that break the
//! rules everywhere at once (empty, over-long, hidden characters, unknown
//! codes, implausible instants), sends them over the wire as raw protobuf,
//! and resolves every `BadRequest` field and precondition subject of the
//! answers against the request's descriptor. Targeted cases then reach the
//! domain's own rules (extension consent, settlement terms, failure
//! reports), whose names must be translated too.

use std::collections::BTreeMap;

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_types::StatusExt;

use crate::world::{World, ts};

/// A codec for messages already encoded: the test builds them itself.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// The contracts: every message by its full name.
struct Contracts {
    messages: BTreeMap<String, DescriptorProto>,
    /// Unary methods of the served services: path, input type.
    methods: Vec<(String, String)>,
}

impl Contracts {
    fn load() -> Self {
        let set = FileDescriptorSet::decode(mediation_proto::DESCRIPTORS).unwrap();
        let mut messages = BTreeMap::new();
        let mut methods = Vec::new();
        fn add(messages: &mut BTreeMap<String, DescriptorProto>, scope: &str, m: &DescriptorProto) {
            let name = format!("{scope}.{}", m.name());
            for nested in &m.nested_type {
                add(messages, &name, nested);
            }
            messages.insert(name, m.clone());
        }
        for file in &set.file {
            let scope = format!(".{}", file.package());
            for m in &file.message_type {
                add(&mut messages, &scope, m);
            }
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                if !mediation_proto::SERVED_SERVICES.contains(&name.as_str()) {
                    continue;
                }
                for method in &service.method {
                    if method.client_streaming() || method.server_streaming() {
                        continue;
                    }
                    methods.push((
                        format!("/{name}/{}", method.name()),
                        method.input_type().to_owned(),
                    ));
                }
            }
        }
        Self { messages, methods }
    }

    fn message(&self, name: &str) -> &DescriptorProto {
        self.messages
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the descriptor set"))
    }

    /// Whether `path` (e.g. `bundle.parties[0].identity.number`) names a
    /// field of `message`, with an index only where the field repeats.
    fn resolves(&self, message: &str, path: &str) -> Result<(), String> {
        let mut current = self.message(message);
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let (name, indexed) = match segment.split_once('[') {
                Some((name, rest)) => {
                    let index = rest.strip_suffix(']').ok_or(format!("{path}: bad index"))?;
                    index
                        .parse::<usize>()
                        .map_err(|_| format!("{path}: index {index:?}"))?;
                    (name, true)
                }
                None => (*segment, false),
            };
            // A refusal may name a oneof as a whole ("one of … is required"),
            // as the last segment.
            if i + 1 == segments.len()
                && !indexed
                && current.oneof_decl.iter().any(|o| o.name() == name)
            {
                return Ok(());
            }
            let field = current
                .field
                .iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| format!("{path}: {} has no field {name:?}", current.name()))?;
            let repeated = field.label() == Label::Repeated;
            if indexed && !repeated {
                return Err(format!("{path}: {name} does not repeat, yet has an index"));
            }
            if i + 1 < segments.len() {
                if field.r#type() != Type::Message {
                    return Err(format!("{path}: {name} has no fields"));
                }
                current = self.message(field.type_name());
            }
        }
        Ok(())
    }

    /// A request of type `message` with every field set to `how` breaks it,
    /// `oneof_pick` choosing which member of each oneof is set.
    fn hostile(&self, message: &str, how: Hostile, oneof_pick: usize, depth: usize) -> Vec<u8> {
        let m = self.message(message);
        let mut out = Vec::new();
        if depth > 4 {
            return out;
        }
        for field in &m.field {
            if let Some(oneof) = field.oneof_index {
                let members: Vec<&FieldDescriptorProto> = m
                    .field
                    .iter()
                    .filter(|f| f.oneof_index == Some(oneof) && !f.proto3_optional())
                    .collect();
                if !field.proto3_optional()
                    && members[oneof_pick % members.len()].number() != field.number()
                {
                    continue;
                }
            }
            let times = if field.label() == Label::Repeated {
                2
            } else {
                1
            };
            for _ in 0..times {
                self.value(&mut out, field, how, oneof_pick, depth);
            }
        }
        out
    }

    fn value(
        &self,
        out: &mut Vec<u8>,
        field: &FieldDescriptorProto,
        how: Hostile,
        oneof_pick: usize,
        depth: usize,
    ) {
        let number = u64::try_from(field.number()).unwrap();
        match field.r#type() {
            Type::String | Type::Bytes => {
                let text = how.text();
                varint(out, number << 3 | 2);
                varint(out, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Type::Message => {
                let body = if field.type_name() == ".google.protobuf.Timestamp" {
                    // 9999-01-01 and a negative nanosecond count.
                    let mut t = Vec::new();
                    varint(&mut t, 1 << 3);
                    varint(&mut t, 253_370_764_800);
                    varint(&mut t, 2 << 3);
                    varint(&mut t, u64::MAX);
                    t
                } else {
                    self.hostile(field.type_name(), how, oneof_pick, depth + 1)
                };
                varint(out, number << 3 | 2);
                varint(out, body.len() as u64);
                out.extend_from_slice(&body);
            }
            Type::Double | Type::Fixed64 | Type::Sfixed64 => {
                varint(out, number << 3 | 1);
                out.extend_from_slice(&u64::MAX.to_le_bytes());
            }
            Type::Float | Type::Fixed32 | Type::Sfixed32 => {
                varint(out, number << 3 | 5);
                out.extend_from_slice(&u32::MAX.to_le_bytes());
            }
            // Enums get a number no contract defines; integers and booleans
            // their largest value.
            _ => {
                varint(out, number << 3);
                varint(out, if field.r#type() == Type::Bool { 1 } else { 999 });
            }
        }
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// How a generated request breaks the rules.
#[derive(Debug, Clone, Copy)]
enum Hostile {
    /// Strings too long for any single-line field.
    Long,
    /// Hidden and reordering characters, a path for a name.
    Hidden,
    /// Not an id, a code or a date of any kind.
    Nonsense,
}

impl Hostile {
    fn text(self) -> String {
        match self {
            Hostile::Long => "调".repeat(300),
            Hostile::Hidden => "\u{202E}..\u{2215}x\u{200B}".into(),
            Hostile::Nonsense => "not a valid anything".into(),
        }
    }
}

/// The fields a refusal names.
pub(crate) fn named_fields(status: &Status) -> Vec<String> {
    let details = status.get_error_details();
    let mut fields: Vec<String> = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default();
    if let Some(p) = details.precondition_failure() {
        fields.extend(p.violations.iter().map(|v| v.subject.clone()));
    }
    fields
}

fn tenant_of(path: &str) -> &'static str {
    match path.split('/').nth(1).unwrap_or_default() {
        "mediation.court.v1.CourtGateway" => "court-bj",
        "mediation.ccpit.v1.CcpitGateway" => "ccpit",
        "mediation.labour.v1.LabourGateway" => "labour",
        "mediation.traffic.v1.TrafficGateway" => "traffic",
        _ => "operators",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_a_refusal_names_is_a_field_of_the_request() {
    let w = World::start().await;
    let contracts = Contracts::load();
    assert!(contracts.methods.len() > 30, "{}", contracts.methods.len());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (path, input) in &contracts.methods {
        let mut grpc = tonic::client::Grpc::new(w.connect_as(tenant_of(path)).await);
        let mut requests = vec![Vec::new()];
        for how in [Hostile::Long, Hostile::Hidden, Hostile::Nonsense] {
            for pick in 0..4 {
                requests.push(contracts.hostile(input, how, pick, 0));
            }
        }
        for request in requests {
            grpc.ready().await.unwrap();
            let answer = grpc
                .unary::<Vec<u8>, Vec<u8>, Raw>(
                    tonic::Request::new(request),
                    path.parse().unwrap(),
                    Raw,
                )
                .await;
            let Err(status) = answer else { continue };
            for field in named_fields(&status) {
                checked += 1;
                if let Err(e) = contracts.resolves(input, &field) {
                    wrong.push(format!("{path}: {e} ({})", status.message()));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "fields that are not the request's:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "field paths: {checked} names checked in the refusals of {} methods",
        contracts.methods.len()
    );
    assert!(checked > 200, "too few field names were checked: {checked}");
}

/// The refusal's field names for a CCPIT call on a case the centre holds.
async fn ccpit_fields(w: &mut World) -> (String, Contracts) {
    let mut b = bundle_to_wire(&sample_bundle());
    b.court_referral_id = "PATHS-1".into();
    for d in &mut b.documents {
        d.url = "https://court-bj.example/files/1".into();
    }
    let id = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(b) })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "P-1".into(),
        })
        .await
        .unwrap();
    (id, Contracts::load())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domains_rules_name_fields_as_the_request_does() {
    let mut w = World::start().await;
    let (id, contracts) = ccpit_fields(&mut w).await;
    let check = |status: &Status, input: &str, expected: &[&str]| {
        let fields = named_fields(status);
        for field in &fields {
            contracts.resolves(input, field).unwrap();
        }
        for want in expected {
            assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
        }
    };

    // An extension that one party did not agree to.
    let err = w
        .ccpit_api
        .report_progress(cp::ReportProgressRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            progress: Some(cp::report_progress_request::Progress::Extension(
                cp::Extension {
                    until: "2025-04-20".into(),
                    agreed_by: vec!["P1".into(), "P9".into()],
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap_err();
    check(
        &err,
        ".mediation.ccpit.v1.ReportProgressRequest",
        &["extension.agreed_by", "extension.agreed_by[1]"],
    );

    // A settlement without the day it is performed by, with a party the
    // case does not have.
    let signed_at = ts("2025-03-20T15:00:00+08:00");
    let settlement = cp::SubmitSettlementRequest {
        case_id: id.clone(),
        mediation_centre: "ccpit-bj-01".into(),
        parties: vec![cp::SettlementParty {
            reference: "P7".into(),
            name: "张三".into(),
            document_type: "ID_CARD".into(),
            document_number: "11010519491231002X".into(),
        }],
        disputed_matters: "货款支付".into(),
        terms: vec!["付款".into()],
        performance_method: "银行转账".into(),
        perform_by: String::new(),
        signatures: vec![cp::Signature {
            signer_type: "CENTRE".into(),
            signer: "ccpit-bj-01".into(),
            signed_at,
        }],
        files: vec![],
    };
    let err = w.ccpit_api.submit_settlement(settlement).await.unwrap_err();
    check(
        &err,
        ".mediation.ccpit.v1.SubmitSettlementRequest",
        &["perform_by", "parties[0].reference"],
    );

    // A failure report confirming the address of a party the case lacks.
    let err = w
        .ccpit_api
        .report_failure(cp::ReportFailureRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            course: "两次调解".into(),
            reasons: "分歧过大".into(),
            confirmed_addresses: vec![cp::ConfirmedAddress {
                party: "P9".into(),
                address: "北京市朝阳区某路1号".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    check(
        &err,
        ".mediation.ccpit.v1.ReportFailureRequest",
        &["confirmed_addresses[0].party"],
    );
}
