//! Housekeeping: eviction of what ended a TTL ago.

use super::*;

#[test]
fn housekeeping_evicts_what_ended_a_ttl_ago() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["new_subscription"] = json!({"uss_base_url": "https://uss1.example.com"});
    let created = dss.create_oir(USS1, 1, &body);
    let implicit = str_of(&created["subscription_id"]).to_string();
    dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, 0, minutes(120)), true, false));
    dss.create_oir(USS2, 2, &oir("Accepted", volume(46.0, 7.0, minutes(100), minutes(200)), &[]));
    let (status, _) = dss.put(
        USS1,
        &constraint_path(&id(5)),
        &json!({"extents": [here()], "uss_base_url": "https://cm.example.com"}),
    );
    assert_eq!(status, 201);
    // Not yet: the TTL has not passed since the ends.
    dss.set_time(minutes(70) + TTL - 1);
    dss.host.housekeeping::<Scd>().unwrap().unwrap();
    assert_eq!(dss.get(USS1, &oir_path(&id(1))).0, 200);
    // Now OIR 1, its implicit subscription and the constraint ended a TTL ago; OIR 2 and
    // subscription 7 have not.
    dss.set_time(minutes(70) + TTL);
    let output = dss.host.housekeeping::<Scd>().unwrap().unwrap();
    let output: crate::Output = postcard::from_bytes(&output).unwrap();
    assert_eq!(output, crate::Output::Evicted { oirs: 1, constraints: 1, subscriptions: 1 });
    assert_eq!(dss.get(USS1, &oir_path(&id(1))).0, 404);
    assert_eq!(dss.get(USS1, &sub_path(&implicit)).0, 404);
    assert_eq!(dss.get(USS1, &constraint_path(&id(5))).0, 404);
    assert_eq!(dss.get(USS2, &oir_path(&id(2))).0, 200);
    assert_eq!(dss.get(USS2, &sub_path(&id(7))).0, 200);
    dss.set_time(minutes(200) + TTL);
    dss.host.housekeeping::<Scd>().unwrap().unwrap();
    assert!(dss.host.store.is_empty());
}
