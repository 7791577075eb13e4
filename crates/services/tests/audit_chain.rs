//! The audit trail on both backends: concurrent writers, tamper detection, rollback.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use diesel::prelude::*;
use models::schema::audit_events;
use models::AuditResult;
use repositories::testing::TestDb;
use repositories::{both_backends, write_tx, RepoError};
use serde_json::json;
use services::audit::{self, AuditContext, Entry};

const WRITERS: usize = 8;
const EVENTS_PER_WRITER: usize = 200;

fn entry(i: usize, writer: usize) -> Entry<'static> {
    Entry {
        action: "test.event",
        subject_type: "test",
        subject_id: None,
        details: json!({ "writer": writer, "i": i, "phone": "923001234567" }),
        result: AuditResult::Success,
    }
}

both_backends!(
    concurrent_writers_all_land_and_the_chain_verifies,
    tampering_names_the_row,
    rolled_back_events_leave_no_trace
);

async fn concurrent_writers_all_land_and_the_chain_verifies(t: TestDb) {
    let db = t.db.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The chainer runs while writers write.
    let chainer = {
        let db = db.clone();
        let done = done.clone();
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                audit::link_pending(&db, 100).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        writers.push(tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().unwrap();
            for i in 0..EVENTS_PER_WRITER {
                write_tx(&mut conn, |conn| audit::record(conn, &AuditContext::system(), entry(i, w)))
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    chainer.await.unwrap();
    let report = audit::verify(&db, 500).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checked, (WRITERS * EVENTS_PER_WRITER) as i64);
    assert_eq!(report.unchained, 0);
    // Every writer's every event is present exactly once, with personal data masked.
    let rows: Vec<(Option<i64>, String)> = db
        .run(|c| Ok(audit_events::table.select((audit_events::seq, audit_events::details)).load(c)?))
        .await
        .unwrap();
    assert_eq!(rows.len(), WRITERS * EVENTS_PER_WRITER);
    let mut seen = std::collections::HashSet::new();
    for (_, details) in &rows {
        let v: serde_json::Value = serde_json::from_str(details).unwrap();
        assert_eq!(v["phone"], "9230******67");
        assert!(seen.insert((v["writer"].as_u64().unwrap(), v["i"].as_u64().unwrap())));
    }
    let mut seqs: Vec<i64> = rows.iter().map(|(s, _)| s.unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=(WRITERS * EVENTS_PER_WRITER) as i64).collect::<Vec<_>>());
}

async fn tampering_names_the_row(t: TestDb) {
    let db = t.db.clone();
    db.run(|c| {
        for i in 0..10 {
            write_tx(c, |c| audit::record(c, &AuditContext::system(), entry(i, 0)))?;
        }
        Ok(())
    })
    .await
    .unwrap();
    assert!(audit::verify(&db, 500).await.unwrap().ok);
    // Edit the details of the event at seq 6, as an intruder with database access would.
    let (event_id, details): (String, String) = db
        .run(|c| {
            Ok(audit_events::table
                .filter(audit_events::seq.eq(6))
                .select((audit_events::event_id, audit_events::details))
                .first(c)?)
        })
        .await
        .unwrap();
    let forged = details.replace("\"i\":5", "\"i\":500");
    assert_ne!(forged, details);
    db.run(move |c| {
        diesel::update(audit_events::table.filter(audit_events::seq.eq(6)))
            .set(audit_events::details.eq(forged))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    let report = audit::verify(&db, 500).await.unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, 6);
    assert_eq!(broken.event_id, event_id);
    assert_eq!(report.checked, 5);

    // Deleting the last event is caught by the chain head.
    db.run(move |c| {
        diesel::update(audit_events::table.filter(audit_events::seq.eq(6)))
            .set(audit_events::details.eq(details))
            .execute(c)?;
        diesel::delete(audit_events::table.filter(audit_events::seq.eq(10))).execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    let report = audit::verify(&db, 500).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_broken.unwrap().seq, 10);
}

async fn rolled_back_events_leave_no_trace(t: TestDb) {
    let db = t.db.clone();
    let result: Result<(), RepoError> = db
        .run(|c| {
            write_tx(c, |c| {
                audit::record(c, &AuditContext::system(), entry(1, 1))?;
                Err(RepoError::Config("the change failed".into()))
            })
        })
        .await;
    assert!(result.is_err());
    let count: i64 = db.run(|c| Ok(audit_events::table.count().get_result(c)?)).await.unwrap();
    assert_eq!(count, 0);
    // The connection is usable afterwards and a committed event lands.
    db.run(|c| write_tx(c, |c| audit::record(c, &AuditContext::system(), entry(2, 1)))).await.unwrap();
    let report = audit::verify(&db, 500).await.unwrap();
    assert!(report.ok);
    assert_eq!(report.checked, 1);
}
