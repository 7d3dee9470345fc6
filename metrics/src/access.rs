//! Who may read an organisation's figures: its people (owner, marketer, viewer) and API
//! tokens acting for it with scope `metrics:read`. The organisation is the verified
//! token's, and nothing else: there is no parameter to name one, so bank admins, whose
//! tokens carry no organisation, are refused (403) like a token without the scope.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use lyra_common::db::OrgId;
use lyra_common::token::{Authenticated, Claims, Role, TokenVerifier};

use crate::error::MetricsError;

/// The scope an API token needs to read figures.
pub const SCOPE: &str = "metrics:read";

/// A request allowed to read one organisation's figures.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The organisation, from the verified token.
    pub org: OrgId,
    /// The token's claims.
    pub claims: Claims,
}

/// Whether `claims` may read figures, and of which organisation.
pub fn tenant_of(claims: &Claims) -> Result<OrgId, MetricsError> {
    let allowed = match claims.role {
        Role::Owner | Role::Marketer | Role::Viewer => true,
        Role::Service => claims.has_scope(SCOPE),
        Role::BankAdmin => false,
    };
    match (allowed, claims.org) {
        (true, Some(org)) => Ok(org),
        (true, None) | (false, _) if claims.role == Role::Service => Err(MetricsError::Forbidden(
            "this needs a token of an organisation with scope metrics:read",
        )),
        _ => Err(MetricsError::Forbidden(
            "figures are for the people of an organisation",
        )),
    }
}

impl<S> FromRequestParts<S> for Tenant
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = MetricsError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        match tenant_of(&claims) {
            Ok(org) => Ok(Tenant { org, claims }),
            Err(e) => {
                tracing::info!(sub = %claims.sub, role = claims.role.as_str(), "metrics access denied");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(role: Role, org: Option<i64>, scopes: &[&str]) -> Claims {
        Claims {
            sub: "x".into(),
            org: org.map(OrgId),
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            typ: "access".into(),
            iss: "lyra-auth".into(),
            aud: "lyra-api".into(),
            exp: 0,
            iat: 0,
            jti: "j".into(),
        }
    }

    #[test]
    fn the_access_matrix() {
        for role in [Role::Owner, Role::Marketer, Role::Viewer] {
            assert_eq!(tenant_of(&claims(role, Some(7), &[])).unwrap(), OrgId(7));
            assert!(tenant_of(&claims(role, None, &[])).is_err());
        }
        assert!(tenant_of(&claims(Role::BankAdmin, None, &[SCOPE])).is_err());
        assert!(tenant_of(&claims(Role::BankAdmin, Some(7), &[SCOPE])).is_err());
        assert_eq!(
            tenant_of(&claims(Role::Service, Some(7), &[SCOPE])).unwrap(),
            OrgId(7)
        );
        assert!(tenant_of(&claims(Role::Service, Some(7), &["ingest:write"])).is_err());
        assert!(tenant_of(&claims(Role::Service, None, &[SCOPE])).is_err());
    }
}
