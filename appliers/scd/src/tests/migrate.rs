//! Upgrades from older layouts: 1.0.x (subscriptions stored whole) and 1.1.x-1.2.x (a
//! notify row per subscription, footprints without targets). After the migration, the
//! state is exactly what 1.3 would have written.

use super::*;
use crate::cell_index::CellKey;
use crate::migrate::{FOOTPRINTS_V1_1, NOTIFY_V1_1, NotifyV1_1, SUBSCRIPTIONS_V1_0, SubscriptionV1_0};
use crate::store::{CONSTRAINT_BY_CELL, Footprint, OIR_BY_CELL, SUBSCRIPTION_BY_CELL, SUBSCRIPTIONS};
use wasmraft_sdk::keys::Key;
use wasmraft_sdk::{Applier, Ctx, Error, Id, Info};

/// Rewrites the store as 1.0.x (`Downgrade<true>`) or 1.2.x kept it.
struct Downgrade<const TO_1_0: bool>;

impl<const TO_1_0: bool> Applier for Downgrade<TO_1_0> {
    const NAME: &'static str = "scd";
    const VERSION: &'static str = if TO_1_0 { "1.0.0" } else { "1.2.0" };
    type Command = ();
    type Query = ();
    type Output = ();
    type QueryOutput = ();

    fn apply(ctx: &mut Ctx, _: ()) -> Result<(), Error> {
        let ids: Vec<Id> =
            SUBSCRIPTIONS.indices.iter(ctx).map(|row| row.map(|(id, _)| id)).collect::<Result<_, _>>()?;
        for id in ids {
            let sub = SUBSCRIPTIONS.get(ctx, id)?.expect("listed");
            SUBSCRIPTIONS.indices.delete(ctx, &id)?;
            let footprint = SUBSCRIPTIONS.entities.footprints.get(ctx, &id)?.expect("a footprint");
            let Footprint { start, end, alt_lo, alt_hi, cells, .. } = footprint;
            FOOTPRINTS_V1_1.put(ctx, &id, &Footprint { start, end, alt_lo, alt_hi, cells, cover: () })?;
            if TO_1_0 {
                let old = SubscriptionV1_0 {
                    manager: sub.manager,
                    version: sub.version,
                    notification_index: sub.notification_index,
                    uss_base_url: sub.uss_base_url,
                    notify_for_oirs: sub.notify_for_oirs,
                    notify_for_constraints: sub.notify_for_constraints,
                    implicit: sub.implicit,
                    start: sub.start,
                    end: sub.end,
                };
                SUBSCRIPTIONS_V1_0.put(ctx, &id, &old)?;
            } else {
                let notify = NotifyV1_1 {
                    uss_base_url: sub.uss_base_url,
                    for_oirs: sub.notify_for_oirs,
                    for_constraints: sub.notify_for_constraints,
                    index: sub.notification_index,
                };
                NOTIFY_V1_1.put(ctx, &id, &notify)?;
            }
        }
        // The cell indexes as 1.2 keyed them: no altitude tier, bucket or band, nothing covered.
        for prefix in [OIR_BY_CELL.prefix(), CONSTRAINT_BY_CELL.prefix(), SUBSCRIPTION_BY_CELL.prefix()] {
            let entries: Vec<Vec<u8>> = ctx.scan_prefix(&prefix).map(|(entry, _)| entry).collect();
            assert!(!entries.is_empty());
            for entry in entries {
                let (key, id) = <(CellKey, Id)>::from_key_bytes(&entry[prefix.len()..]).expect("an entry");
                ctx.delete(entry);
                let mut old = prefix.clone();
                key.encode_v1_2(&mut old);
                id.encode(&mut old);
                ctx.put(old, Vec::new());
            }
        }
        Ok(())
    }

    fn query(_: &Ctx, _: ()) -> Result<(), Error> {
        Ok(())
    }
}

#[test]
fn subscriptions_stored_by_1_0_are_migrated_with_their_indices() {
    migrated_from::<true>("1.0.0");
}

#[test]
fn subscriptions_stored_by_1_2_are_migrated_with_their_targets_and_indices() {
    migrated_from::<false>("1.2.0");
}

/// Subscriptions written by 1.3, downgraded, migrated from `version`: the same state, and
/// notifications count on.
fn migrated_from<const TO_1_0: bool>(version: &str) {
    let mut dss = Dss::new();
    assert_eq!(dss.put(USS1, &sub_path(&id(1)), &subscription(here(), true, false)).0, 200);
    assert_eq!(dss.put(USS2, &sub_path(&id(2)), &subscription(here(), true, true)).0, 200);
    let implicit = json!({"extents": [here()], "key": [], "state": "Accepted", "uss_base_url": "https://uss.example.com/utm",
                          "new_subscription": {"uss_base_url": "https://implicit.example.com"}});
    let (status, first) = dss.put(USS1, &oir_path(&id(3)), &implicit);
    assert_eq!(status, 201, "{first}");
    let ovn = str_of(&first["operational_intent_reference"]["ovn"]).to_string();
    let elsewhere = json!({"extents": [json!({"volume": {"outline_polygon": square(47.0, 8.0, 0.01)},
        "time_start": time(minutes(10)), "time_end": time(minutes(70))})], "uss_base_url": "https://cm.example.com"});
    assert_eq!(dss.put(USS1, &constraint_path(&id(5)), &elsewhere).0, 201);
    let as_1_3 = dss.host.store.clone();
    let before = dss.get(USS1, &sub_path(&id(1)));
    assert_eq!(before.1["subscription"]["notification_index"], 1, "{before:?}");

    dss.host.apply::<Downgrade<TO_1_0>>(Encoding::Postcard, &()).expect("downgraded");
    assert_ne!(dss.host.store, as_1_3, "{version}'s layout differs");
    dss.host.migrate::<Scd>(&Info { name: "scd".into(), version: version.into() }).expect("migrated");
    assert_eq!(dss.host.store, as_1_3, "the migrated state is what 1.3 writes");

    // From 1.3.x, nothing changes.
    dss.host.migrate::<Scd>(&Info { name: "scd".into(), version: "1.3.0".into() }).expect("nothing to do");
    assert_eq!(dss.host.store, as_1_3);
    assert_eq!(dss.get(USS1, &sub_path(&id(1))), before);
    // Notifications go on counting from where the older version left them.
    let (status, second) = dss.put(USS1, &oir_path(&id(4)), &oir("Accepted", here(), &[&ovn]));
    assert_eq!(status, 201, "{second}");
    let indices: Vec<(String, i64)> = second["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["subscriptions"].as_array().unwrap().clone())
        .map(|s| (str_of(&s["subscription_id"]).to_string(), s["notification_index"].as_i64().unwrap()))
        .collect();
    assert!(indices.contains(&(id(1), 2)) && indices.contains(&(id(2), 2)), "{indices:?}");
}
