//! Who may call what on the client API. Every call carries an identity: a client
//! certificate verified against `--client-ca` (its CN and O, see [`crate::tls::names`]) or a
//! bearer token verified as the HTTP door verifies it (`authorization: Bearer <JWT>`; a
//! token wins over a certificate on the same call). Its scopes hold its roles:
//! `wasmraft.read` (query, status), `wasmraft.write` (propose; and read) and
//! `wasmraft.admin` (upgrade, member changes, leadership; and the rest). A node that checks
//! no credentials at all (neither a client CA nor token keys: a loopback node, or one run
//! with `--insecure`) lets anonymous callers do everything. Health probes need no identity;
//! reflection needs the read role ([`access_of`]).

use crate::http::auth::Verifier;
use crate::tls::accept::ConnInfo;
use crate::tls::names::caller_of;
use http::HeaderMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::Status;
use wasmraft_sdk::contract::Caller;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn scope(self) -> &'static str {
        match self {
            Role::Read => "wasmraft.read",
            Role::Write => "wasmraft.write",
            Role::Admin => "wasmraft.admin",
        }
    }

    /// Whether `scopes` hold this role: each role includes the ones below it.
    fn held_by(self, scopes: &[String]) -> bool {
        [Role::Read, Role::Write, Role::Admin].into_iter().any(|r| r >= self && scopes.iter().any(|s| s == r.scope()))
    }
}

/// The role each method of the client API needs. A method this table does not know needs
/// the highest: nobody below admin learns even that it does not exist.
fn role_of(method: &str) -> Role {
    match method {
        "Query" | "Status" => Role::Read,
        "Propose" => Role::Write,
        _ => Role::Admin,
    }
}

/// Who may make a call on the client door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (and whatever they present is not checked).
    Anyone,
    Needs(Role),
}

/// Who may call the method at `path` (`/package.Service/Method`), by the whole path: health
/// probes come from orchestrators that hold no credentials, and reflection describes the
/// API to whoever may read it. Anything else needs its client API role, and a path the
/// door does not know needs admin.
pub fn access_of(path: &str) -> Access {
    match path {
        "/grpc.health.v1.Health/Check" | "/grpc.health.v1.Health/Watch" => Access::Anyone,
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        | "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" => Access::Needs(Role::Read),
        _ => Access::Needs(path.strip_prefix("/wasmraft.v1.Client/").map_or(Role::Admin, role_of)),
    }
}

pub struct Authorizer {
    /// Verifies bearer tokens (shared with the HTTP door, and its cache with it).
    pub tokens: Option<Arc<Verifier>>,
    /// Whether client certificates are verified (a client CA is set).
    pub certificates: bool,
}

impl Authorizer {
    /// Checks no credentials: every caller may do everything.
    pub fn is_open(&self) -> bool {
        self.tokens.is_none() && !self.certificates
    }

    /// The caller of a request with these headers, on this connection, if it may act as
    /// `role`; `None` only on an open node with no credentials given.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        conn: Option<&ConnInfo>,
        role: Role,
    ) -> Result<Option<Caller>, Status> {
        let bearer = headers.get("authorization");
        let caller = if let Some(header) = bearer {
            let Some(tokens) = &self.tokens else {
                return Err(Status::unauthenticated(
                    "this node verifies no bearer tokens (it has no --jwt-public-key)",
                ));
            };
            let header =
                header.to_str().map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let principal = tokens.verify_header(header, now).map_err(|e| Status::unauthenticated(e.to_string()))?;
            Caller { subject: principal.subject, scopes: principal.scopes }
        } else if let Some(leaf) = conn.and_then(ConnInfo::leaf) {
            // The door's verifier accepted it: it comes from the client CA.
            let cert = caller_of(leaf).ok_or_else(|| Status::unauthenticated("the client certificate has no CN"))?;
            Caller { subject: cert.name, scopes: cert.scopes }
        } else if self.is_open() {
            return Ok(None);
        } else {
            return Err(Status::unauthenticated(
                "no credentials: present a client certificate from the client CA, or `authorization: Bearer <JWT>`",
            ));
        };
        if !role.held_by(&caller.scopes) {
            return Err(Status::permission_denied(format!(
                "{} may not make this call: it needs the scope {} (or a higher role's)",
                caller.subject,
                role.scope()
            )));
        }
        Ok(Some(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Role::Read.held_by(&scopes(&["wasmraft.admin"])));
        assert!(Role::Write.held_by(&scopes(&["x", "wasmraft.write"])));
        assert!(!Role::Admin.held_by(&scopes(&["wasmraft.write", "wasmraft.read"])));
        assert!(!Role::Read.held_by(&scopes(&["utm.strategic_coordination", "wasmraft"])));
    }

    #[test]
    fn an_open_node_lets_anonymous_callers_in_and_a_closed_one_does_not() {
        let open = Authorizer { tokens: None, certificates: false };
        assert_eq!(open.authorize(&HeaderMap::new(), None, Role::Admin).unwrap(), None);
        let closed = Authorizer { tokens: None, certificates: true };
        let refused = closed.authorize(&HeaderMap::new(), None, Role::Read).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        let mut with_token = HeaderMap::new();
        with_token.insert("authorization", "Bearer x.y.z".parse().unwrap());
        // Without keys, a token cannot be believed, even on an open node.
        let refused = open.authorize(&with_token, None, Role::Read).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn every_method_needs_its_role_and_unknown_ones_the_highest() {
        let roles: Vec<Role> = ["Query", "Status", "Propose", "Upgrade", "ChangeMembers", "TransferLeader", "Nope"]
            .into_iter()
            .map(role_of)
            .collect();
        use Role::*;
        assert_eq!(roles, [Read, Read, Write, Admin, Admin, Admin, Admin]);
    }

    #[test]
    fn only_health_probes_are_open_and_by_their_whole_path() {
        use Access::*;
        use Role::*;
        let cases = [
            ("/grpc.health.v1.Health/Check", Anyone),
            ("/grpc.health.v1.Health/Watch", Anyone),
            ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", Needs(Read)),
            ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Needs(Read)),
            ("/wasmraft.v1.Client/Status", Needs(Read)),
            ("/wasmraft.v1.Client/Query", Needs(Read)),
            ("/wasmraft.v1.Client/Propose", Needs(Write)),
            ("/wasmraft.v1.Client/Upgrade", Needs(Admin)),
            // A client method named as a probe's, or a probe's name elsewhere, is no probe.
            ("/wasmraft.v1.Client/Check", Needs(Admin)),
            ("/wasmraft.v1.Client/Watch", Needs(Admin)),
            ("/other.Health/Check", Needs(Admin)),
            ("/grpc.health.v1.Health/Check/", Needs(Admin)),
            ("/grpc.health.v1.Health/Other", Needs(Admin)),
            ("Check", Needs(Admin)),
            ("/Status", Needs(Admin)),
            ("", Needs(Admin)),
        ];
        for (path, access) in cases {
            assert_eq!(access_of(path), access, "{path}");
        }
    }
}
