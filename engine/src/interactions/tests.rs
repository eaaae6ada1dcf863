//! The interaction log against a real sled store in a temp dir (durability, reopen) and the
//! in-memory store (rules): one behaviour per test.

use super::*;
use crate::router::EndReason;
use crate::store::{MemStore, SledStore};

fn req(key: &str) -> NewInteraction {
    NewInteraction {
        channel: Channel::Chat,
        queue: QueueId(1),
        priority: 0,
        required_skills: vec![],
        customer: Customer {
            name: Some("Ann".into()),
            email: Some("ann@example.com".into()),
            phone: Some("+4612345".into()),
            subject: Some("hello".into()),
        },
        idempotency_key: key.into(),
        thread_id: None,
    }
}

fn mem() -> InteractionLog {
    InteractionLog::open(Arc::new(MemStore::new())).unwrap().0
}

fn created(r: Result<Ingested, InteractionError>) -> Interaction {
    match r.unwrap() {
        Ingested::Created(i) => *i,
        other => panic!("expected a new interaction, got {other:?}"),
    }
}

#[test]
fn same_key_and_request_replays_the_first_id() {
    let log = mem();
    let first = created(log.ingest(req("k1"), 1));
    assert_eq!(
        log.ingest(req("k1"), 2).unwrap(),
        Ingested::Replayed(first.id)
    );
    assert_eq!(log.live_count(), 1);
}

#[test]
fn same_key_with_another_request_is_a_conflict() {
    let log = mem();
    created(log.ingest(req("k1"), 1));
    let other = NewInteraction {
        priority: 9,
        ..req("k1")
    };
    assert!(matches!(
        log.ingest(other, 2),
        Err(InteractionError::KeyReused { .. })
    ));
}

#[test]
fn concurrent_ingests_with_one_key_create_one_interaction() {
    let log = Arc::new(mem());
    let ids: Vec<InteractionId> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let log = log.clone();
                s.spawn(move || match log.ingest(req("same"), 1).unwrap() {
                    Ingested::Created(i) => i.id,
                    Ingested::Replayed(id) => id,
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|&id| id == ids[0]));
    assert_eq!(log.live_count(), 1);
}

#[test]
fn voice_channel_is_refused_naming_the_field() {
    let log = mem();
    let r = NewInteraction {
        channel: Channel::Voice,
        ..req("k")
    };
    match log.ingest(r, 1) {
        Err(InteractionError::Invalid(e)) => assert_eq!(e[0].field, "channel"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_idempotency_key_is_refused() {
    match mem().ingest(req("  "), 1) {
        Err(InteractionError::Invalid(e)) => {
            assert_eq!((e[0].field, e[0].rule), ("idempotency_key", "required"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_than_four_skills_are_refused() {
    let r = NewInteraction {
        required_skills: (1..=5)
            .map(|i| RequiredSkill {
                skill: SkillId(i),
                min_level: 1,
            })
            .collect(),
        ..req("k")
    };
    match mem().ingest(r, 1) {
        Err(InteractionError::Invalid(e)) => assert_eq!(e[0].rule, "max_items"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_are_above_the_voice_range_and_increase() {
    let log = mem();
    let a = created(log.ingest(req("a"), 1)).id;
    let b = created(log.ingest(req("b"), 1)).id;
    assert!(a.0 > ID_BASE && b.0 > a.0);
}

#[test]
fn reopen_recovers_waiting_in_arrival_order_and_active_with_agents() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<InteractionId> = {
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let (log, rec) = InteractionLog::open(store).unwrap();
        assert_eq!(rec, Recovery::default());
        let ids: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|k| created(log.ingest(req(k), 1)).id)
            .collect();
        log.handle_answered(ids[1], AgentId(7)).unwrap();
        log.handle_ended(ids[2]).unwrap();
        log.flush().unwrap();
        ids
    };
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let (log, rec) = InteractionLog::open(store).unwrap();
    let waiting: Vec<_> = rec.waiting.iter().map(|i| i.id).collect();
    assert_eq!(waiting, vec![ids[0], ids[3]]);
    assert_eq!(rec.active.len(), 1);
    assert_eq!(rec.active[0].state, LiveState::Active { agent: AgentId(7) });
    // Keys survive too: a retry after the restart still replays.
    assert_eq!(log.ingest(req("a"), 2).unwrap(), Ingested::Replayed(ids[0]));
    // And a new interaction never reuses an ended one's id.
    assert!(created(log.ingest(req("e"), 2)).id > ids[3]);
}

#[test]
fn answered_after_ended_does_not_resurrect() {
    let log = mem();
    let id = created(log.ingest(req("a"), 1)).id;
    log.handle_output(&Output::Ended {
        interaction: id,
        reason: EndReason::Completed,
    })
    .unwrap();
    log.handle_output(&Output::Answered {
        interaction: id,
        agent: AgentId(1),
    })
    .unwrap();
    assert_eq!(log.get(id), None);
}

#[test]
fn transfer_replaces_the_record_with_a_waiting_one() {
    let log = mem();
    let id = created(log.ingest(req("a"), 1)).id;
    log.handle_answered(id, AgentId(1)).unwrap();
    let new = log
        .transfer(id, AgentId(1), Route::Queue(QueueId(2)))
        .unwrap();
    assert_eq!(log.get(id), None);
    let got = log.get(new.id).unwrap();
    assert_eq!(
        (got.queue, got.state, got.transferred),
        (QueueId(2), LiveState::Waiting, true)
    );
    assert_eq!(got.customer, req("a").customer);
}

#[test]
fn transfer_of_an_interaction_the_agent_does_not_hold_is_refused() {
    let log = mem();
    let id = created(log.ingest(req("a"), 1)).id;
    assert!(matches!(
        log.transfer(id, AgentId(1), Route::Queue(QueueId(2))),
        Err(InteractionError::NotFound(_))
    ));
}

#[test]
fn refused_direct_transfer_goes_back_to_its_queue() {
    let log = mem();
    let id = created(log.ingest(req("a"), 1)).id;
    log.handle_answered(id, AgentId(1)).unwrap();
    let to = Route::Agent {
        agent: AgentId(2),
        voicemail: false,
    };
    let new = log.transfer(id, AgentId(1), to).unwrap();
    let back = log
        .handle_output(&Output::Ended {
            interaction: new.id,
            reason: EndReason::Refused { voicemail: false },
        })
        .unwrap()
        .expect("re-queued");
    assert_eq!(back.arrival().route, Route::Queue(QueueId(1)));
    assert!(log.get(new.id).is_some());
}

#[test]
fn masked_customer_has_no_name_email_or_phone() {
    let m = req("a").customer.masked();
    assert_eq!((m.name, m.email, m.phone), (None, None, None));
    assert_eq!(m.subject.as_deref(), Some("hello"));
}
