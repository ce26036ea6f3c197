//! Ended entities: searches skip them, gets still return them, and housekeeping removes them
//! 30 minutes after their end.

use super::*;
use crate::TTL;

#[test]
fn ended_isas_and_subscriptions_are_found_by_id_until_housekeeping_removes_them() {
    let mut dss = Dss::new();
    dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    dss.create_sub(V::One, 2, &sub_body(V::One, 46.0, 7.0));
    let long = isa_with(V::One, extents(V::One, &square(46.0, 7.0), Some(0), Some(minutes(24 * 60))));
    dss.create_isa(V::One, 3, &long);

    dss.set_time(minutes(61));
    let (_, found) = dss.get(DP2, &format!("/rid/v2/dss/identification_service_areas?area={}", area(46.0, 7.0)));
    assert_eq!(ids(&found["service_areas"]), [id(3)]);
    let (_, found) = dss.get(DP1, &format!("/v1/dss/subscriptions?area={}", area(46.0, 7.0)));
    assert_eq!(ids(&found["subscriptions"]), Vec::<String>::new());
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 200);
    assert_eq!(dss.get(DP1, &V::One.sub_path(&id(2))).0, 200);

    // Not yet 30 minutes after their end: kept.
    dss.set_time(minutes(60) + TTL - 1);
    dss.host.housekeeping::<Rid>().expect("an eviction").expect("applied");
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 200);
    dss.set_time(minutes(60) + TTL);
    dss.host.housekeeping::<Rid>().expect("an eviction").expect("applied");
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 404);
    assert_eq!(dss.get(DP1, &V::One.sub_path(&id(2))).0, 404);
    assert_eq!(dss.get(DP1, &V::One.isa_path(&id(3))).0, 200);
    // Gone from the cell index too: a new subscription there lists only the live ISA.
    let reply = dss.create_sub(V::One, 4, &sub_with(V::One, extents(V::One, &square(46.0, 7.0), None, None)));
    assert_eq!(ids(&reply["service_areas"]), [id(3)]);
}
