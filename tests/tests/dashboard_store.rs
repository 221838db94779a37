//! The dashboard's Redis store against a real Redis: a flush commits partials, open
//! state, offsets and watermarks together; a new owner of a partition starts from
//! exactly what the previous owner committed; and the previous owner, fenced by the
//! new epoch, can no longer write for it.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pgcdc_dashboard::store::{
    Flush, FlushOutcome, PartialWrite, PartitionName, Reader, WindowId, Writer,
};
use pgcdc_tests::dashboard_support::clear_redis;
use pgcdc_tests::{unique_name, Stack};
use serde_json::json;

fn window(start_ms: i64) -> WindowId {
    WindowId {
        metric: "views".into(),
        group: r#"["books"]"#.into(),
        start_ms,
        end_ms: start_ms + 60_000,
    }
}

fn write(partition: &PartitionName, start_ms: i64, count: i64, closed: bool) -> PartialWrite {
    PartialWrite {
        window: window(start_ms),
        partition: partition.clone(),
        partial: Some(serde_json::value::to_raw_value(&json!({"count": count})).unwrap()),
        closed,
    }
}

#[tokio::test]
async fn a_new_owner_resumes_from_the_committed_state_and_fences_the_old_one() -> anyhow::Result<()>
{
    let url = Stack::get().redis_url().to_owned();
    let prefix = unique_name("store");
    let p0 = PartitionName::new("shop.public.page_views", 0);
    let (outcome_old, state, outcome_new, outcome_stale) = tokio::task::spawn_blocking({
        let (url, prefix, p0) = (url.clone(), prefix.clone(), p0.clone());
        move || -> anyhow::Result<_> {
            let mut old = Writer::connect(&url, &prefix, 3600)?;
            let claimed = old.claim(&p0)?;
            assert_eq!(
                claimed.next_offset, None,
                "a partition never consumed starts at the beginning"
            );
            let first = Flush {
                partials: vec![write(&p0, 0, 3, true), write(&p0, 60_000, 2, false)],
                offsets: vec![(p0.clone(), 42)],
                watermarks: vec![(p0.clone(), 61_000)],
            };
            let outcome_old = old.commit(&first, true)?;
            // Another process takes the partition over (a rebalance, or `old` presumed dead).
            let mut new = Writer::connect(&url, &prefix, 3600)?;
            let state = new.claim(&p0)?;
            let second = Flush {
                partials: vec![write(&p0, 60_000, 5, false)],
                offsets: vec![(p0.clone(), 50)],
                watermarks: vec![(p0.clone(), 62_000)],
            };
            let outcome_new = new.commit(&second, false)?;
            // The old owner wakes up and tries to commit what it had in flight.
            let stale = Flush {
                partials: vec![write(&p0, 60_000, 99, false)],
                offsets: vec![(p0.clone(), 60)],
                watermarks: vec![],
            };
            let outcome_stale = old.commit(&stale, false)?;
            Ok((outcome_old, state, outcome_new, outcome_stale))
        }
    })
    .await??;
    assert_eq!(outcome_old, FlushOutcome::Committed);
    assert_eq!(state.next_offset, Some(42));
    assert_eq!(state.watermark, Some(61_000));
    assert_eq!(
        state.open,
        vec![(window(60_000), json!({"count": 2}))],
        "only open windows are restored"
    );
    assert_eq!(outcome_new, FlushOutcome::Committed);
    assert_eq!(outcome_stale, FlushOutcome::Fenced(vec![p0.clone()]));

    let reader = Reader::connect(&url, &prefix).await?;
    let windows = reader.windows("views", 0, 60_000).await?;
    assert_eq!(windows.len(), 2);
    assert_eq!(
        windows[0].partials,
        vec![(p0.clone(), true, json!({"count": 3}))]
    );
    assert_eq!(
        windows[1].partials,
        vec![(p0.clone(), false, json!({"count": 5}))],
        "the fenced write left no trace"
    );
    assert_eq!(reader.offsets().await?.get(&p0), Some(&50));
    assert_eq!(reader.watermarks().await?.get(&p0), Some(&62_000));
    clear_redis(&prefix).await?;
    Ok(())
}

#[tokio::test]
async fn every_update_is_announced_on_the_channel() -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let url = Stack::get().redis_url().to_owned();
    let prefix = unique_name("notify");
    let client = redis::Client::open(url.as_str())?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(format!("{prefix}:updates")).await?;
    let p1 = PartitionName::new("t", 1);
    tokio::task::spawn_blocking({
        let (url, prefix, p1) = (url.clone(), prefix.clone(), p1.clone());
        move || -> anyhow::Result<()> {
            let mut writer = Writer::connect(&url, &prefix, 60)?;
            writer.claim(&p1)?;
            let flush = Flush {
                partials: vec![write(&p1, 120_000, 1, false), write(&p1, 180_000, 1, false)],
                offsets: vec![(p1.clone(), 1)],
                watermarks: vec![],
            };
            assert_eq!(writer.commit(&flush, true)?, FlushOutcome::Committed);
            Ok(())
        }
    })
    .await??;
    let mut messages = pubsub.on_message();
    let mut starts = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), messages.next())
            .await?
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&message.get_payload::<String>()?)?;
        assert_eq!(body["metric"], "views");
        starts.push(body["start_ms"].as_i64().unwrap());
    }
    assert_eq!(starts, vec![120_000, 180_000]);
    drop(messages);
    clear_redis(&prefix).await?;
    Ok(())
}

#[tokio::test]
async fn expired_windows_leave_the_index_and_live_ones_stay() -> anyhow::Result<()> {
    let url = Stack::get().redis_url().to_owned();
    let prefix = unique_name("trim");
    let p0 = PartitionName::new("t", 0);
    let removed = tokio::task::spawn_blocking({
        let (url, prefix, p0) = (url.clone(), prefix.clone(), p0.clone());
        move || -> anyhow::Result<usize> {
            // Event times far in the past must not matter: only the TTL since the write.
            let mut short = Writer::connect(&url, &prefix, 1)?;
            short.claim(&p0)?;
            let old = Flush {
                partials: vec![write(&p0, 0, 1, true)],
                offsets: vec![],
                watermarks: vec![],
            };
            short.commit(&old, false)?;
            let mut long = Writer::connect(&url, &prefix, 3600)?;
            long.claim(&p0)?;
            let live = Flush {
                partials: vec![write(&p0, 60_000, 1, true)],
                offsets: vec![],
                watermarks: vec![],
            };
            long.commit(&live, false)?;
            assert_eq!(
                long.trim_indexes(&["views".to_owned()], 100)?,
                0,
                "nothing expired yet"
            );
            std::thread::sleep(std::time::Duration::from_millis(2100));
            Ok(long.trim_indexes(&["views".to_owned()], 100)?)
        }
    })
    .await??;
    assert_eq!(removed, 1);
    let reader = Reader::connect(&url, &prefix).await?;
    let windows = reader.windows("views", 0, i64::MAX / 2).await?;
    assert_eq!(
        windows
            .iter()
            .map(|w| w.window.start_ms)
            .collect::<Vec<_>>(),
        vec![60_000]
    );
    let index: Vec<String> = {
        let client = redis::Client::open(url.as_str())?;
        let mut c = client.get_multiplexed_async_connection().await?;
        redis::cmd("ZRANGE")
            .arg(format!("{prefix}:idx:views"))
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await?
    };
    assert_eq!(index.len(), 1, "{index:?}");
    clear_redis(&prefix).await?;
    Ok(())
}
