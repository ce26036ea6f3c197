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
