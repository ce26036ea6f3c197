//! The HTTP path prefixes an applier serves, and which hosted applier a request goes to.
//!
//! A prefix matches whole path segments (`/kv` serves `/kv` and `/kv/a`, not `/kvx`), so
//! two prefixes overlap exactly when one is a segment prefix of the other. The appliers of
//! one cluster may not overlap, so at most one prefix matches a path; a path that none
//! matches goes to the primary (first) applier, which is how a single-applier cluster
//! serves every path.

/// Longest prefix an applier may declare.
const MAX_PREFIX_BYTES: usize = 256;
/// Most prefixes one applier may declare.
const MAX_PREFIXES: usize = 64;

/// A prefix in canonical form: starts with `/`, no trailing `/` (except `/` itself), no
/// empty segments, no query or fragment.
pub fn canonical(prefix: &str) -> Result<String, String> {
    if prefix.len() > MAX_PREFIX_BYTES {
        return Err(format!("route prefix of {} bytes (at most {MAX_PREFIX_BYTES})", prefix.len()));
    }
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err(format!("route prefix `{prefix}` does not start with `/`"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok("/".into());
    }
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"?#%".contains(&b));
    if !rest.split('/').all(valid) {
        return Err(format!("route prefix `{prefix}` has an empty segment or a character outside a path"));
    }
    Ok(format!("/{rest}"))
}

/// `prefix` (canonical) matches `path` segment-wise.
pub fn matches(prefix: &str, path: &str) -> bool {
    prefix == "/" || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn overlap(a: &str, b: &str) -> bool {
    matches(a, b) || matches(b, a)
}

/// An applier's declared prefixes, canonical, sorted and without duplicates.
pub fn declared(prefixes: Vec<String>) -> Result<Vec<String>, String> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(format!("{} route prefixes (at most {MAX_PREFIXES})", prefixes.len()));
    }
    let mut out = prefixes.iter().map(|p| canonical(p)).collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// Why `routes` of applier `name` may not join appliers whose routes are `others`
/// (name, prefixes), if they overlap.
pub fn conflict<'a>(
    name: &str,
    routes: &[String],
    others: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Option<String> {
    for (other, theirs) in others {
        for mine in routes {
            if let Some(clash) = theirs.iter().find(|t| overlap(mine, t)) {
                return Some(format!(
                    "applier `{name}` serves `{mine}`, which overlaps `{clash}` that applier `{other}` serves"
                ));
            }
        }
    }
    None
}

/// Which of `appliers` (in order, each with its prefixes) serves `path`: the one whose
/// prefix matches, else the first.
pub fn route<'a, T>(appliers: &'a [T], prefixes: impl Fn(&T) -> &[String], path: &str) -> Option<&'a T> {
    appliers.iter().find(|a| prefixes(a).iter().any(|p| matches(p, path))).or_else(|| appliers.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(matches("/kv", "/kv"));
        assert!(matches("/kv", "/kv/a"));
        assert!(!matches("/kv", "/kvx"));
        assert!(!matches("/kv/a", "/kv"));
        assert!(matches("/", "/anything"));
        assert_eq!(canonical("/dss/v1/").unwrap(), "/dss/v1");
        assert_eq!(canonical("/").unwrap(), "/");
        for bad in ["dss", "/a//b", "/a?b", "/a b", ""] {
            assert!(canonical(bad).is_err(), "{bad}");
        }
        assert_eq!(declared(s(&["/b/", "/a", "/b"])).unwrap(), s(&["/a", "/b"]));
    }

    #[test]
    fn overlapping_prefixes_conflict_and_requests_route_by_them() {
        let scd = s(&["/aux/v1", "/dss/v1"]);
        let rid = s(&["/rid/v2/dss", "/v1/dss"]);
        assert_eq!(conflict("rid", &rid, [("scd", &scd[..])]), None);
        let greedy = s(&["/dss"]);
        let why = conflict("greedy", &greedy, [("scd", &scd[..])]).unwrap();
        assert!(why.contains("`/dss`") && why.contains("`/dss/v1`") && why.contains("scd"), "{why}");
        assert!(conflict("all", &s(&["/"]), [("scd", &scd[..])]).is_some());
        assert!(conflict("x", &s(&["/dssx"]), [("scd", &scd[..])]).is_none());

        let appliers = [("scd", scd), ("rid", rid)];
        let by = |path| route(&appliers, |a| &a.1, path).map(|a| a.0);
        assert_eq!(by("/v1/dss/identification_service_areas"), Some("rid"));
        assert_eq!(by("/dss/v1/operational_intent_references/x"), Some("scd"));
        // No prefix matches: the primary answers (its own 404, or a route it did not declare).
        assert_eq!(by("/versions/x"), Some("scd"));
    }
}
