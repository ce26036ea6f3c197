//! Notification indices: every ISA write, through either version, bumps the live
//! subscriptions of both versions in the cells it touches (old and new), and names them to
//! the writer, grouped by URL; their versions stay.

use super::*;

const DP1_URL: &str = "https://dp1.example.com/isa";
const DP2_URL: &str = "https://dp2.example.com";

fn named(pairs: &[(&str, &[(u32, i64)])]) -> Vec<(String, Vec<(String, i64)>)> {
    pairs.iter().map(|(url, subs)| (url.to_string(), subs.iter().map(|&(n, i)| (id(n), i)).collect())).collect()
}

#[test]
fn isa_writes_of_either_version_notify_the_subscriptions_of_both() {
    let mut dss = Dss::new();
    dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 46.0, 7.0));

    let created = dss.create_isa(V::Two, 10, &isa_body(V::Two, 46.0, 7.0));
    assert_eq!(subscribers(&created), named(&[(DP1_URL, &[(1, 1)]), (DP2_URL, &[(2, 1)])]));
    let created = dss.create_isa(V::One, 11, &isa_body(V::One, 46.0, 7.0));
    assert_eq!(subscribers(&created), named(&[(DP1_URL, &[(1, 2)]), (DP2_URL, &[(2, 2)])]));
    let version = str_of(&created["service_area"]["version"]).to_string();
    let updated = dss.put(SP1, &format!("{}/{version}", V::One.isa_path(&id(11))), &isa_body(V::One, 46.0, 7.0));
    assert_eq!(subscribers(&updated.1), named(&[(DP1_URL, &[(1, 3)]), (DP2_URL, &[(2, 3)])]));
    let version = str_of(&updated.1["service_area"]["version"]).to_string();
    let (status, deleted) = dss.delete(SP1, &format!("{}/{version}", V::One.isa_path(&id(11))));
    assert_eq!(status, 200);
    assert_eq!(subscribers(&deleted), named(&[(DP1_URL, &[(1, 4)]), (DP2_URL, &[(2, 4)])]));
    // Indices are not versions: the subscriptions' versions stay as they were.
    for v in BOTH {
        let (_, got) = dss.get(v.dp(), &v.sub_path(&id(1)));
        assert_eq!(
            (&got["subscription"]["notification_index"], &got["subscription"]["version"]),
            (&json!(4), &json!("1khn86cqta000"))
        );
    }
    // A subscription elsewhere hears nothing; a write elsewhere tells nobody.
    let elsewhere = dss.create_isa(V::Two, 12, &isa_body(V::Two, 10.0, 10.0));
    assert_eq!(elsewhere["subscribers"], json!([]));
}

#[test]
fn a_moved_isa_notifies_the_old_cells_and_the_new_and_ended_subscriptions_hear_nothing() {
    let mut dss = Dss::new();
    dss.create_sub(V::Two, 1, &sub_body(V::Two, 46.0, 7.0));
    dss.create_sub(V::Two, 2, &sub_body(V::Two, 47.0, 8.0));
    let short = sub_with(V::Two, extents(V::Two, &square(47.0, 8.0), Some(0), Some(minutes(1))));
    dss.create_sub(V::Two, 3, &short);
    // Two subscriptions at one URL are named together, in id order.
    let created = dss.create_isa(V::Two, 10, &isa_body(V::Two, 47.0, 8.0));
    assert_eq!(subscribers(&created), named(&[(DP2_URL, &[(2, 1), (3, 1)])]));
    let version = str_of(&created["service_area"]["version"]).to_string();

    // Moved from (47, 8) to (46, 7): subscriptions 1 (new cells) and 2 (old); 3 has ended.
    dss.set_time(minutes(2));
    let moved = isa_with(V::Two, extents(V::Two, &square(46.0, 7.0), None, None));
    let (status, reply) = dss.put(SP2, &format!("{}/{version}", V::Two.isa_path(&id(10))), &moved);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(subscribers(&reply), named(&[(DP2_URL, &[(1, 1), (2, 2)])]));
    assert_eq!(dss.get(DP2, &V::Two.sub_path(&id(3))).1["subscription"]["notification_index"], 1);
    // A subscription that has not started yet is notified (no check of its window).
    let future = sub_with(V::One, extents(V::One, &square(46.0, 7.0), Some(minutes(60)), Some(minutes(90))));
    dss.create_sub(V::One, 4, &future);
    let version = str_of(&reply["service_area"]["version"]).to_string();
    let (_, deleted) = dss.delete(SP2, &format!("{}/{version}", V::Two.isa_path(&id(10))));
    assert_eq!(subscribers(&deleted), named(&[(DP1_URL, &[(4, 1)]), (DP2_URL, &[(1, 2)])]));
}

/// A refused ISA write bumps nothing: its notifications roll back with it.
#[test]
fn a_refused_write_notifies_nobody() {
    let mut dss = Dss::new();
    dss.create_sub(V::One, 1, &sub_body(V::One, 46.0, 7.0));
    let created = dss.create_isa(V::Two, 10, &isa_body(V::Two, 46.0, 7.0));
    let stale = format!("{}/1", V::Two.isa_path(&id(10)));
    assert_eq!(dss.refused_put(SP2, &stale, &isa_body(V::Two, 46.0, 7.0)).0, 409);
    assert_eq!(dss.refused_put(SP2, &V::Two.isa_path(&id(10)), &isa_body(V::Two, 46.0, 7.0)).0, 409);
    let version = str_of(&created["service_area"]["version"]);
    let (status, reply) =
        dss.put(SP2, &format!("{}/{version}", V::Two.isa_path(&id(10))), &isa_body(V::Two, 46.0, 7.0));
    assert_eq!((status, subscribers(&reply)), (200, named(&[(DP1_URL, &[(1, 2)])])));
}
