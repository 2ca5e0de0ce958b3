//! What happens around the calls: time passing, the replicas' own loops
//! (both sweeping at once, a relay pass), links changing, an operator
//! replaying dead letters, power cuts and disk faults.

use super::*;

impl Sim {
    pub(super) async fn time_passes(&mut self) {
        // Mostly hours, sometimes days: deadlines are days apart, and a
        // sweep may come late.
        let minutes = match self.rng.random_range(0..10) {
            0..4 => self.rng.random_range(10..240),
            4..8 => self.rng.random_range(240..1_440),
            _ => self.rng.random_range(1_440..5_760),
        };
        self.world.clock.advance(SignedDuration::from_mins(minutes));
        let seconds = u64::try_from(minutes).unwrap_or(0) * 60;
        tokio::time::advance(std::time::Duration::from_secs(seconds)).await;
        let now = self.world.now();
        self.note(format!("time passes {minutes} min to {now}"));
    }

    /// Both replicas sweep at once, as two gateways whose engines woke
    /// together do.
    pub(super) async fn sweep(&mut self) {
        let (a, b) = tokio::join!(
            self.world.replicas[0].engine.sweep(),
            self.world.replicas[1].engine.sweep()
        );
        let show = |r: Result<mediation_service::SweepReport, _>| match r {
            Ok(report) => format!(
                "{} due {} fired {} failed",
                report.due, report.fired, report.failed
            ),
            Err(e) => format!("failed: {e}"),
        };
        if let (Ok(a), Ok(b)) = (&a, &b)
            && a.fired > 0
            && b.due > 0
        {
            self.covered
                .insert("two replicas sweep one due timer".into());
        }
        let line = format!("sweep: {} | {}", show(a), show(b));
        self.note(line);
    }

    /// Both replicas run a retention pass at once, as two gateways whose
    /// hourly passes met: each referral due is purged by one of them.
    pub(super) async fn retention_passes(&mut self) {
        let (a, b) = tokio::join!(
            self.world.replicas[0].retention.pass(),
            self.world.replicas[1].retention.pass()
        );
        let show = |r: &Result<mediation_service::PurgeReport, _>| match r {
            Ok(report) => format!(
                "{} purged {} moved on {} busy {} kept {} details purged",
                report.purged,
                report.moved_on,
                report.busy,
                report.kept,
                report.audit_details_purged
            ),
            Err(e) => format!("failed: {e}"),
        };
        let line = format!("retention: {} | {}", show(&a), show(&b));
        if let (Ok(a), Ok(b)) = (&a, &b) {
            if a.purged + b.purged > 0 {
                self.covered.insert("a referral purged".into());
            }
            if a.dead_letters_discarded + b.dead_letters_discarded > 0 {
                self.covered
                    .insert("a dead letter discarded with its purged referral".into());
            }
            if a.audit_details_purged + b.audit_details_purged > 0 {
                self.covered.insert("an audit entry's detail purged".into());
            }
            if a.moved_on + b.moved_on > 0 {
                self.covered
                    .insert("a purge gave way to a command or the other replica".into());
            }
        }
        self.note(line);
    }

    pub(super) async fn relay_pass(&mut self) {
        let result = self.world.relay.tick().await;
        self.world.relay.settle().await;
        let line = match result {
            Ok(report) => format!(
                "relay pass: {} started, {} deferred",
                report.started, report.deferred
            ),
            Err(e) => format!("relay pass failed: {e}"),
        };
        self.note(line);
    }

    pub(super) fn link_changes(&mut self) {
        let destinations = ["partner:ccpit", "court:京0105"];
        let destination = destinations[self.rng.random_range(0..destinations.len())];
        let link = match self.rng.random_range(0..8) {
            0 => Link::Down,
            1 => Link::Flaky(self.rng.random_range(10..90)),
            2 => Link::LosingAcks(self.rng.random_range(10..90)),
            3 => Link::Slow(self.rng.random_range(1..30)),
            4 => Link::Refusing,
            _ => Link::Up,
        };
        if link != Link::Up {
            self.covered.insert(
                format!("link {link:?}")
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        self.world.network.set_link(destination, link);
        self.note(format!("link to {destination}: {link:?}"));
    }

    /// An operator lists the dead letters and replays each, through the
    /// operations service, as `ops replay` does.
    pub(super) async fn operator_replays(&mut self) {
        let r = self.replica();
        let replica = &self.world.replicas[r];
        let caller = self.caller("operators", Role::Operator { read_only: false });
        let subject = caller.subject.clone();
        let listed = guarded!(
            keep replica,
            operations.list_dead_letters,
            OPERATIONS,
            "ListDeadLetters",
            caller,
            ops::ListDeadLettersRequest { limit: 0 },
        );
        self.calls.push((subject, false));
        let dead = match listed {
            Ok(answer) => answer.into_inner().dead_letters,
            Err(e) => {
                self.note(format!("operator lists dead letters: {:?}", e.code()));
                return;
            }
        };
        let mut replayed = 0;
        for message in &dead {
            let replica = &self.world.replicas[r];
            let caller = self.caller("operators", Role::Operator { read_only: false });
            let subject = caller.subject.clone();
            let result = guarded!(
                replica,
                operations.replay_dead_letter,
                OPERATIONS,
                "ReplayDeadLetter",
                caller,
                ops::ReplayDeadLetterRequest {
                    message_id: message.message_id.clone(),
                },
            );
            self.calls.push((subject, false));
            if result.is_ok() {
                replayed += 1;
            }
        }
        if replayed > 0 {
            self.covered.insert("a dead letter replayed".into());
        }
        self.note(format!(
            "operator replays {replayed} of {} dead letters via {r}",
            dead.len()
        ));
    }

    /// A power cut, at a step's end or in the middle of a relay pass or a
    /// sweep: their tasks stop at whatever await they had reached.
    pub(super) async fn crash(&mut self) {
        let polls = self.rng.random_range(0..6);
        let during = match self.rng.random_range(0..3) {
            0 => {
                // The pass's attempts are under way; the power goes before
                // they all finish.
                let _ = self.world.relay.tick().await;
                for _ in 0..polls {
                    tokio::task::yield_now().await;
                }
                "during a relay pass"
            }
            1 => {
                let sweep = self.world.replicas[0].engine.sweep();
                let cut = async {
                    for _ in 0..polls {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! {
                    biased;
                    _ = sweep => {}
                    () = cut => {}
                }
                "during a sweep"
            }
            _ => "between steps",
        };
        self.world.crash_and_restart().await;
        self.covered.insert(format!("power cut {during}"));
        self.note(format!(
            "power cut {during} after {polls} polls; the replicas start again"
        ));
        let mut lost = self.acknowledged.survived(&self.world.store).await;
        lost.extend(invariants::calls_recorded(&self.world.store, &self.calls).await);
        self.report(lost);
    }

    pub(super) fn disk_fault(&mut self) {
        if self.rng.random_range(0..2) == 0 {
            self.world.store.fail_next_syncs(1);
            self.covered.insert("failed sync".into());
            self.note("the next sync will fail".into());
        } else {
            self.world.store.fail_writes(true);
            self.covered.insert("full disk".into());
            self.disk_full_for = self.rng.random_range(1..6);
            self.note(format!("disk full for {} steps", self.disk_full_for));
        }
    }
}
