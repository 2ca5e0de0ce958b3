//! The simulated partner platforms: each hosts its own receiving service,
//! as the real platform does, and keeps (or counts) what it was sent.

use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_platform_server::{CcpitPlatform, CcpitPlatformServer};
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_platform_server::{LabourPlatform, LabourPlatformServer};
use mediation_proto::traffic::v1 as tp;
use mediation_proto::traffic::v1::traffic_platform_server::{
    TrafficPlatform, TrafficPlatformServer,
};
use tonic::{Request, Response, Status};

use super::Inbox;

/// The CCPIT platform: offers and the court's decisions.
#[derive(Debug, Default, Clone)]
pub struct SimCcpit {
    pub offers: Inbox<cp::CaseOffer>,
    pub decisions: Inbox<cp::CourtDecision>,
    /// The W3C `traceparent` each offer came with, if any, in order.
    pub offer_traces: Inbox<Option<String>>,
}

impl SimCcpit {
    pub fn server(&self) -> CcpitPlatformServer<Self> {
        CcpitPlatformServer::new(self.clone())
    }
}

#[tonic::async_trait]
impl CcpitPlatform for SimCcpit {
    async fn offer_case(&self, r: Request<cp::CaseOffer>) -> Result<Response<cp::Ack>, Status> {
        let trace = r
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.offers.take(r.into_inner())?;
        let _ = self.offer_traces.take(trace);
        Ok(Response::new(cp::Ack {}))
    }

    async fn notify_court_decision(
        &self,
        r: Request<cp::CourtDecision>,
    ) -> Result<Response<cp::Ack>, Status> {
        self.decisions.take(r.into_inner())?;
        Ok(Response::new(cp::Ack {}))
    }
}

/// What the labour platform receives, as one ordered stream: referrals and
/// decisions of one dispute must arrive in the order they happened.
#[derive(Debug, Clone)]
pub enum LabourMessage {
    Referral(Box<lp::DisputeReferral>),
    Decision(lp::CourtDecision),
}

impl LabourMessage {
    /// The court's reference of a referral; empty for a decision.
    pub fn court_reference(&self) -> String {
        match self {
            LabourMessage::Referral(r) => r.court_reference.clone(),
            LabourMessage::Decision(_) => String::new(),
        }
    }
}

/// The labour-dispute platform.
#[derive(Debug, Default, Clone)]
pub struct SimLabour {
    pub messages: Inbox<LabourMessage>,
}

impl SimLabour {
    pub fn server(&self) -> LabourPlatformServer<Self> {
        LabourPlatformServer::new(self.clone())
    }
}

#[tonic::async_trait]
impl LabourPlatform for SimLabour {
    async fn refer_dispute(
        &self,
        r: Request<lp::DisputeReferral>,
    ) -> Result<Response<lp::Received>, Status> {
        self.messages
            .take(LabourMessage::Referral(Box::new(r.into_inner())))?;
        Ok(Response::new(lp::Received {}))
    }

    async fn notify_court_decision(
        &self,
        r: Request<lp::CourtDecision>,
    ) -> Result<Response<lp::Received>, Status> {
        self.messages
            .take(LabourMessage::Decision(r.into_inner()))?;
        Ok(Response::new(lp::Received {}))
    }
}

/// The road-traffic platform: cases, the court's decisions and what it is
/// to pass on to insurers.
#[derive(Debug, Default, Clone)]
pub struct SimTraffic {
    pub cases: Inbox<tp::AccidentCase>,
    pub decisions: Inbox<tp::CourtDecision>,
    pub insurers: Inbox<tp::InsurerNotice>,
}

impl SimTraffic {
    pub fn server(&self) -> TrafficPlatformServer<Self> {
        TrafficPlatformServer::new(self.clone())
    }
}

#[tonic::async_trait]
impl TrafficPlatform for SimTraffic {
    async fn delegate_case(
        &self,
        r: Request<tp::AccidentCase>,
    ) -> Result<Response<tp::Receipt>, Status> {
        self.cases.take(r.into_inner())?;
        Ok(Response::new(tp::Receipt {}))
    }

    async fn notify_court_decision(
        &self,
        r: Request<tp::CourtDecision>,
    ) -> Result<Response<tp::Receipt>, Status> {
        self.decisions.take(r.into_inner())?;
        Ok(Response::new(tp::Receipt {}))
    }

    async fn notify_insurers(
        &self,
        r: Request<tp::InsurerNotice>,
    ) -> Result<Response<tp::Receipt>, Status> {
        self.insurers.take(r.into_inner())?;
        Ok(Response::new(tp::Receipt {}))
    }
}
