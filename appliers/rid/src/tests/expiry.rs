//! Ended entities: searches and notifications skip them, gets still return them, and
//! housekeeping removes them 30 minutes after their end.

use super::*;
use crate::TTL;

#[test]
fn ended_isas_and_subscriptions_are_found_by_id_until_housekeeping_removes_them() {
    let mut dss = Dss::new();
    dss.create_isa(V::Two, 1, &isa_body(V::Two, 46.0, 7.0));
    dss.create_sub(V::One, 2, &sub_body(V::One, 46.0, 7.0));
    let long = isa_with(V::One, extents(V::One, &square(46.0, 7.0), Some(0), Some(minutes(24 * 60))));
    dss.create_isa(V::One, 3, &long);

    dss.set_time(minutes(60) + 1);
    let (_, found) = dss.get(DP2, &V::Two.isa_search(&area(46.0, 7.0)));
    assert_eq!(ids(&found["service_areas"]), [id(3)]);
    let (_, found) = dss.get(DP1, &V::One.sub_search(&area(46.0, 7.0)));
    assert_eq!(found, json!({"subscriptions": []}));
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 200);
    assert_eq!(dss.get(DP1, &V::One.sub_path(&id(2))).0, 200);

    // Kept until 30 minutes after their end, included.
    dss.set_time(minutes(60) + TTL - 1);
    assert_eq!(
        dss.host.housekeeping::<Rid>(),
        Some(Ok(postcard(crate::Output::Evicted { isas: 0, subscriptions: 0 })))
    );
    dss.set_time(minutes(60) + TTL);
    assert_eq!(
        dss.host.housekeeping::<Rid>(),
        Some(Ok(postcard(crate::Output::Evicted { isas: 1, subscriptions: 1 })))
    );
    assert_eq!(dss.get(DP2, &V::Two.isa_path(&id(1))).0, 404);
    assert_eq!(dss.get(DP1, &V::One.sub_path(&id(2))).0, 404);
    assert_eq!(dss.get(DP1, &V::One.isa_path(&id(3))).0, 200);
    // Gone from the indexes too: the id is free again, and a new subscription there lists
    // only the live ISA.
    assert_eq!(
        dss.put(
            SP2,
            &V::Two.isa_path(&id(1)),
            &isa_with(V::Two, extents(V::Two, &square(10.0, 10.0), None, Some(TTL + minutes(90))))
        )
        .0,
        200
    );
    let reply = dss.create_sub(V::One, 4, &sub_with(V::One, extents(V::One, &square(46.0, 7.0), None, None)));
    assert_eq!(ids(&reply["service_areas"]), [id(3)]);
}

fn postcard(output: crate::Output) -> Vec<u8> {
    wasmraft_sdk::codec::encode(wasmraft_sdk::Encoding::Postcard, &output).expect("encodes")
}
