//! Refusals that name their cause with the reference's message, for the paths the other
//! tests check by status only; each leaves the store as it was.

use super::*;

fn refused(dss: &mut Dss, who: Who, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let (status, reply) = dss.refused(who, method, path, body);
    (status, message(&reply).to_string())
}

#[test]
fn oir_writes_of_nothing_or_at_a_stale_ovn() {
    let mut dss = Dss::new();
    let body = oir("Accepted", here(), &[]);
    let nothing = oir_path(&format!("{}/some-ovn", id(1)));
    let expected = (400, "OperationalIntent does not exist and therefore is not version some-ovn".to_string());
    assert_eq!(refused(&mut dss, USS1, "PUT", &nothing, Some(&body)), expected);
    let expected = (404, format!("OperationalIntent {} not found", id(1)));
    assert_eq!(refused(&mut dss, USS1, "DELETE", &nothing, None), expected);
    let ovn = str_of(&dss.create_oir(USS1, 1, &body)["ovn"]).to_string();
    let stale = (409, format!("Current version is {ovn} but client specified version some-ovn"));
    assert_eq!(refused(&mut dss, USS1, "PUT", &nothing, Some(&body)), stale);
    assert_eq!(refused(&mut dss, USS1, "DELETE", &nothing, None), stale);
    let expected = (400, "Missing OVN for operational intent to modify".to_string());
    assert_eq!(refused(&mut dss, USS1, "DELETE", &oir_path(&format!("{}/", id(1))), None), expected);
}

#[test]
fn an_explicit_subscription_must_exist_and_be_the_callers() {
    let mut dss = Dss::new();
    let mut body = oir("Accepted", here(), &[]);
    body["subscription_id"] = json!(id(7));
    let expected = (400, format!("Specified Subscription {} does not exist", id(7)));
    assert_eq!(refused(&mut dss, USS1, "PUT", &oir_path(&id(1)), Some(&body)), expected);
    dss.create_sub(USS2, 7, &subscription(volume(46.0, 7.0, 0, minutes(120)), true, false));
    let expected = (403, "Specified Subscription is owned by different client".to_string());
    assert_eq!(refused(&mut dss, USS1, "PUT", &oir_path(&id(1)), Some(&body)), expected);
}

#[test]
fn a_subscription_keeps_covering_its_dependents_and_is_not_removed_under_them() {
    let mut dss = Dss::new();
    let created = dss.create_oir(USS1, 1, &with_new_sub(oir("Accepted", here(), &[])));
    let sid = str_of(&created["subscription_id"]).to_string();
    let version = str_of(&dss.sub_by_id(&sid)["version"]).to_string();
    let path = sub_path(&format!("{sid}/{version}"));
    let expected = (400, "Subscriptions with dependent Operations may not be removed".to_string());
    assert_eq!(refused(&mut dss, USS1, "DELETE", &path, None), expected);
    let elsewhere = subscription(volume(47.0, 8.0, 0, minutes(120)), true, false);
    let expected = (400, format!("Subscription does not cover dependent operation 2d area, {}", id(1)));
    assert_eq!(refused(&mut dss, USS1, "PUT", &path, Some(&elsewhere)), expected);
    let too_short = subscription(volume(46.0, 7.0, 0, minutes(30)), true, false);
    let expected = (400, format!("Subscription does not cover dependent operation's end time, {}", id(1)));
    assert_eq!(refused(&mut dss, USS1, "PUT", &path, Some(&too_short)), expected);
}

#[test]
fn constraint_writes_of_nothing_or_by_another_manager() {
    let mut dss = Dss::new();
    let body = json!({"extents": [here()], "uss_base_url": "https://cm.example.com"});
    let nothing = constraint_path(&format!("{}/some-ovn", id(5)));
    assert_eq!(
        refused(&mut dss, USS1, "PUT", &nothing, Some(&body)),
        (409, "Old version some-ovn does not exist".into())
    );
    assert_eq!(refused(&mut dss, USS1, "DELETE", &nothing, None), (404, format!("Constraint {} not found", id(5))));
    assert_eq!(dss.put(USS1, &constraint_path(&id(5)), &body).0, 201);
    let theirs = (403, "Constraint owned by uss1, but uss2 attempted to modify".to_string());
    assert_eq!(refused(&mut dss, USS2, "PUT", &nothing, Some(&body)), theirs);
}

#[test]
fn availability_refusals_name_their_cause() {
    let mut dss = Dss::new();
    let path = "/dss/v1/uss_availability/uss1";
    let sideways = json!({"availability": "Sideways"});
    assert_eq!(refused(&mut dss, ARBITER, "PUT", path, Some(&sideways)), (400, "Invalid availability state".into()));
    let unknown = json!({"old_version": "v1", "availability": "Down"});
    let expected = (409, "availability for USS uss1 already exists".to_string());
    assert_eq!(refused(&mut dss, ARBITER, "PUT", path, Some(&unknown)), expected);
    assert_eq!(dss.put(ARBITER, path, &json!({"availability": "Down"})).0, 200);
    let expected = (409, "USS availability version v1 is not current".to_string());
    assert_eq!(refused(&mut dss, ARBITER, "PUT", path, Some(&unknown)), expected);
}
