//! Notification indices: every ISA write bumps the live subscriptions of either version in
//! the cells it touches (old and new), and names them to the writer, grouped by URL.

use super::*;

#[test]
fn isa_writes_of_either_version_notify_the_subscriptions_of_both() {
    let mut dss = Dss::new();
    dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 46.0, 7.0));
    let dp1 = "https://dp1.example.com/isa".to_string();
    let dp2 = "https://dp2.example.com".to_string();

    let created = dss.create_isa(V::Two, 10, &isa_body(V::Two, 46.0, 7.0));
    assert_eq!(subscribers(&created), [(dp1.clone(), vec![(id(1), 1)]), (dp2.clone(), vec![(id(2), 1)])]);
    let created = dss.create_isa(V::One, 11, &isa_body(V::One, 46.0, 7.0));
    assert_eq!(subscribers(&created), [(dp1.clone(), vec![(id(1), 2)]), (dp2.clone(), vec![(id(2), 2)])]);
    let version = str_of(&created["service_area"]["version"]).to_string();
    let (status, deleted) = dss.delete(SP1, &format!("{}/{version}", V::One.isa_path(&id(11))));
    assert_eq!(status, 200);
    assert_eq!(subscribers(&deleted), [(dp1, vec![(id(1), 3)]), (dp2, vec![(id(2), 3)])]);
    // Indices are not versions: the subscriptions' versions stay as they were.
    let (_, got) = dss.get(DP1, &V::One.sub_path(&id(1)));
    assert_eq!(got["subscription"]["notification_index"], 3);
    assert_eq!(got["subscription"]["version"], "1khn86cqta000");
}

#[test]
fn a_moved_isa_notifies_the_old_cells_and_the_new_and_ended_subscriptions_hear_nothing() {
    let mut dss = Dss::new();
    dss.create_sub(V::Two, 1, &sub_body(V::Two, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 47.0, 8.0));
    let short = sub_with(V::Two, extents(V::Two, &square(47.0, 8.0), Some(0), Some(minutes(1))));
    dss.create_sub(V::Two, 3, &short);
    // Two subscriptions of one URL are named together.
    let created = dss.create_isa(V::Two, 10, &isa_body(V::Two, 47.0, 8.0));
    assert_eq!(subscribers(&created), [("https://dp2.example.com".to_string(), vec![(id(2), 1), (id(3), 1)])]);
    let version = str_of(&created["service_area"]["version"]).to_string();

    // Moved from (47, 8) to (46, 7): subscriptions 1 (new cells) and 2 (old); 3 has ended.
    dss.set_time(minutes(2));
    let moved = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));
    let (status, reply) = dss.put(SP2, &format!("{}/{version}", V::Two.isa_path(&id(10))), &moved);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(subscribers(&reply), [("https://dp2.example.com".to_string(), vec![(id(1), 1), (id(2), 2)])]);
    let (_, got) = dss.get(DP2, &V::Two.sub_path(&id(3)));
    assert_eq!(got["subscription"]["notification_index"], 1);
}
