//! Notification indices and the subscribers a writer is told of.

use super::*;

#[test]
fn notification_indices_follow_the_reference() {
    let mut dss = Dss::new();
    let sub = dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, 0, minutes(120)), true, true));
    assert_eq!(sub["notification_index"], 0);
    let version = sub["version"].clone();
    let created = {
        let (status, reply) = dss.put(USS1, &oir_path(&id(1)), &oir("Accepted", here(), &[]));
        assert_eq!(status, 201);
        assert_eq!(subscribers(&reply), vec![("https://sub.example.com".to_string(), vec![(id(7), 1)])]);
        reply["operational_intent_reference"].clone()
    };
    let (status, reply) = dss.put(
        USS1,
        &oir_path(&format!("{}/{}", id(1), str_of(&created["ovn"]))),
        &with_new_sub(oir("Activated", here(), &[])),
    );
    assert_eq!(status, 200, "{reply}");
    let subs = subscribers(&reply);
    assert!(subs.contains(&("https://sub.example.com".to_string(), vec![(id(7), 2)])), "{subs:?}");
    let after = dss.sub(USS2, 7);
    assert_eq!(after["notification_index"], 2);
    assert_eq!(after["version"], version, "notifications do not change the version");
    // Elsewhere or later: no notification.
    let (_, reply) =
        dss.put(USS1, &oir_path(&id(2)), &oir("Accepted", volume(47.0, 8.0, minutes(10), minutes(20)), &[]));
    assert_eq!(reply["subscribers"], json!([]));
    let (_, reply) =
        dss.put(USS1, &oir_path(&id(3)), &oir("Accepted", volume(46.0, 7.0, minutes(130), minutes(140)), &[]));
    assert_eq!(reply["subscribers"], json!([]));

    // Constraints: 1, 2, 3 over create, update, delete.
    let body = json!({"extents": [here()], "uss_base_url": "https://cm.example.com"});
    let (status, reply) = dss.put(USS1, &constraint_path(&id(5)), &body);
    assert_eq!(status, 201);
    assert_eq!(subscribers(&reply), vec![("https://sub.example.com".to_string(), vec![(id(7), 3)])]);
    let ovn = str_of(&reply["constraint_reference"]["ovn"]).to_string();
    dss.set_time(minutes(1));
    let (status, reply) = dss.put(USS1, &constraint_path(&format!("{}/{ovn}", id(5))), &body);
    assert_eq!(status, 200);
    assert_eq!(subscribers(&reply)[0].1, vec![(id(7), 4)]);
    let ovn = str_of(&reply["constraint_reference"]["ovn"]).to_string();
    let (status, reply) = dss.delete(USS1, &constraint_path(&format!("{}/{ovn}", id(5))));
    assert_eq!(status, 200);
    assert_eq!(subscribers(&reply)[0].1, vec![(id(7), 5)]);
}

#[test]
fn constraint_only_subscriptions_count_one_two_three() {
    let mut dss = Dss::new();
    dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, 0, minutes(120)), false, true));
    let body = json!({"extents": [here()], "uss_base_url": "https://cm.example.com"});
    let (_, reply) = dss.put(USS1, &constraint_path(&id(5)), &body);
    assert_eq!(subscribers(&reply)[0].1, vec![(id(7), 1)]);
    let ovn = str_of(&reply["constraint_reference"]["ovn"]).to_string();
    let (_, reply) = dss.put(USS1, &constraint_path(&format!("{}/{ovn}", id(5))), &body);
    assert_eq!(subscribers(&reply)[0].1, vec![(id(7), 2)]);
    let ovn = str_of(&reply["constraint_reference"]["ovn"]).to_string();
    let (_, reply) = dss.delete(USS1, &constraint_path(&format!("{}/{ovn}", id(5))));
    assert_eq!(subscribers(&reply)[0].1, vec![(id(7), 3)]);
    // OIR changes do not concern it.
    let (_, reply) = dss.put(USS1, &oir_path(&id(1)), &oir("Accepted", here(), &[]));
    assert_eq!(reply["subscribers"], json!([]));
}

#[test]
fn subscribers_are_grouped_by_url_in_order() {
    let mut dss = Dss::new();
    let at_url = |dss: &mut Dss, n: u32, url: &str| {
        let mut body = subscription(volume(46.0, 7.0, 0, minutes(120)), true, false);
        body["uss_base_url"] = json!(url);
        dss.create_sub(USS2, n, &body);
    };
    at_url(&mut dss, 9, "https://b.example.com");
    at_url(&mut dss, 3, "https://b.example.com");
    at_url(&mut dss, 4, "https://a.example.com");
    let (_, reply) = dss.put(USS1, &oir_path(&id(1)), &oir("Accepted", here(), &[]));
    assert_eq!(
        subscribers(&reply),
        vec![
            ("https://a.example.com".to_string(), vec![(id(4), 1)]),
            ("https://b.example.com".to_string(), vec![(id(3), 1), (id(9), 1)]),
        ]
    );
}

/// `--http-setting time-based-notification-index=true`, as the reference's
/// `--enable_time_based_notification_index`: nothing is bumped, and every index shown is the
/// milliseconds since the UTC midnight of the entry's (or the read's) time.
#[test]
fn time_based_indices_bump_nothing_and_show_the_time_of_day() {
    let mut dss = Dss::new();
    dss.settings.push(("time-based-notification-index", "true"));
    // T0 is a midnight: 12 minutes and 345 ms after it.
    let at = minutes(12) + 345_000_000;
    let ms = 12 * 60_000 + 345;
    dss.set_time(at);
    let sub = dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, minutes(13), minutes(120)), true, true));
    assert_eq!(sub["notification_index"], ms);
    let (status, reply) = dss.put(USS1, &oir_path(&id(1)), &with_new_sub(oir("Accepted", here(), &[])));
    assert_eq!(status, 201, "{reply}");
    let subs = subscribers(&reply);
    let notified: Vec<i64> = subs.iter().flat_map(|(_, s)| s.iter().map(|(_, index)| *index)).collect();
    assert_eq!(notified, vec![ms, ms], "the explicit subscription and the OIR's implicit one: {subs:?}");
    let ovn = str_of(&reply["operational_intent_reference"]["ovn"]).to_string();
    dss.set_time(at + 1_000_000_000);
    assert_eq!(dss.sub(USS2, 7)["notification_index"], ms + 1_000, "a read shows its own time");
    let (_, reply) = dss.post(USS2, "/dss/v1/subscriptions/query", &json!({"area_of_interest": here()}));
    assert_eq!(reply["subscriptions"][0]["notification_index"], ms + 1_000, "{reply}");
    let pool = Who { sub: "ops", scopes: &["interuss.pool_status.read"] };
    let (_, reply) = dss.get(pool, "/aux/v1/configuration/global_options");
    assert_eq!(reply["time_based_notification_index"], true, "{reply}");

    // The stored index was never bumped: without the setting, the count goes on from 0.
    dss.settings.clear();
    assert_eq!(dss.sub(USS2, 7)["notification_index"], 0);
    let (_, reply) = dss.put(USS1, &oir_path(&id(2)), &oir("Accepted", here(), &[&ovn]));
    assert!(subscribers(&reply).iter().any(|(_, s)| s.contains(&(id(7), 1))), "{reply}");
}

/// The setting travels in the entry, so every node applies it alike; and an old entry
/// (no wrapper) keeps its variant number.
#[test]
fn time_indexed_commands_wrap_the_command_and_nest_no_further() {
    use crate::api::Query;
    let evict = postcard::to_allocvec(&Command::Evict).unwrap();
    let wrapped = postcard::to_allocvec(&Command::TimeIndexed(Box::new(Command::Evict))).unwrap();
    assert_eq!(evict, [8], "Evict keeps its number");
    assert_eq!(wrapped, [9, 8]);
    let nested = Command::TimeIndexed(Box::new(Command::TimeIndexed(Box::new(Command::Evict))));
    let mut host = wasmraft_sdk::testing::TestHost::new();
    let refused = host.apply::<Scd>(Encoding::Postcard, &nested);
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(postcard::to_allocvec(&Query::TimeIndexed(Box::new(Query::DssInstances))).unwrap(), [8, 7]);
}

/// With time-of-day indices `render` lists whom a change notifies, from the state after the
/// entry, where counted indices have `apply` list them: the same subscriptions either way,
/// over creates, updates, deletes, implicit subscriptions and constraints.
#[test]
fn time_based_responses_list_whom_counted_ones_do() {
    let (mut counted, mut time_based) = (Dss::new(), Dss::new());
    time_based.settings.push(("time-based-notification-index", "true"));
    // Every index zeroed: the two modes differ only there.
    fn indices_zeroed(mut value: Value) -> Value {
        match &mut value {
            Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    *field = if name == "notification_index" { json!(0) } else { indices_zeroed(field.take()) };
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| *item = indices_zeroed(item.take())),
            _ => {}
        }
        value
    }
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    // Live OIRs and constraints: (number, OVN).
    let mut oirs: Vec<(u32, String)> = Vec::new();
    let mut constraints: Vec<(u32, String)> = Vec::new();
    let mut listed = 0;
    for step in 0..80u32 {
        let place = |k: u64| volume(46.0 + k as f64 * 0.006, 7.0, minutes(10), minutes(70));
        let n = 100 + step;
        let (method, path, body) = match next(6) {
            0 => {
                // Operational intents, constraints, or both.
                let wants = next(3);
                ("PUT", sub_path(&id(n)), subscription(place(next(3)), wants != 1, wants != 0))
            }
            1 | 2 if !oirs.is_empty() && next(3) == 0 => {
                let (n, ovn) = oirs.remove(next(oirs.len() as u64) as usize);
                ("DELETE", oir_path(&format!("{}/{ovn}", id(n))), Value::Null)
            }
            1 | 2 => {
                let key: Vec<&str> = oirs.iter().map(|(_, ovn)| ovn.as_str()).collect();
                let body = oir("Accepted", place(next(3)), &key);
                let body = if next(2) == 0 { with_new_sub(body) } else { body };
                ("PUT", oir_path(&id(n)), body)
            }
            3 if !constraints.is_empty() => {
                let (n, ovn) = constraints.remove(0);
                ("DELETE", constraint_path(&format!("{}/{ovn}", id(n))), Value::Null)
            }
            _ => {
                let body = json!({"extents": [place(next(3))], "uss_base_url": "https://cm.example.com"});
                ("PUT", constraint_path(&id(n)), body)
            }
        };
        let replies = [&mut counted, &mut time_based].map(|dss| {
            dss.set_time(minutes(1) + i64::from(step) * 1_000_000_000);
            let (status, reply) = match method {
                "PUT" => dss.put(USS1, &path, &body),
                _ => dss.delete(USS1, &path),
            };
            (status, indices_zeroed(reply))
        });
        assert_eq!(replies[0], replies[1], "{method} {path}");
        let (status, reply) = &replies[0];
        assert!(*status < 300, "{method} {path}: {status} {reply}");
        if reply.get("subscribers").is_some() {
            listed += subscribers(reply).iter().map(|(_, s)| s.len()).sum::<usize>();
        }
        if method == "PUT" {
            let ovn = |r: &Value| str_of(&r["ovn"]).to_string();
            if let Some(r) = reply.get("operational_intent_reference") {
                oirs.push((n, ovn(r)));
            } else if let Some(r) = reply.get("constraint_reference") {
                constraints.push((n, ovn(r)));
            }
        }
    }
    assert!(listed > 100, "the changes notified someone: {listed}");
}
