//! Tenant names, interned to ids, and the one error type of every call
//! that names a tenant.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError};

use crate::sync::Mutex;

use drama_policy::{InvalidWeight, TenantId, Weight};

/// The longest tenant name accepted, in bytes: 256.
///
/// Names are kept for the life of the runtime (an id, once given, keeps its
/// name) and are shown as metrics labels. Without a bound, `max_tenants`
/// names of any length would be unbounded memory; with it, the table of
/// names holds at most `max_tenants` × 256 bytes (16 MiB at the default
/// bound of 65,536 tenants). 256 bytes is room for any identifier a
/// service keys tenants by (a DNS name is at most 253 bytes, a UUID 36)
/// and still fits comfortably in a metrics label.
pub const MAX_TENANT_NAME_LEN: usize = 256;

/// Tenant names, interned to ids. Bounded by `max_tenants` names of at most
/// [`MAX_TENANT_NAME_LEN`] bytes: id 0 is the default tenant, named
/// "default".
pub(crate) struct Tenants {
    max_tenants: u32,
    inner: Mutex<TenantTable>,
}

struct TenantTable {
    ids: HashMap<Arc<str>, TenantId>,
    names: Vec<Arc<str>>,
}

impl Tenants {
    pub(crate) fn new(max_tenants: u32) -> Tenants {
        let default: Arc<str> = Arc::from("default");
        Tenants {
            max_tenants,
            inner: Mutex::new(TenantTable {
                ids: HashMap::from([(default.clone(), TenantId::DEFAULT)]),
                names: vec![default],
            }),
        }
    }

    pub(crate) fn intern(&self, name: &str) -> Result<TenantId, TenantError> {
        if name.len() > MAX_TENANT_NAME_LEN {
            return Err(TenantError {
                kind: TenantErrorKind::NameTooLong,
                value: name.len() as u64,
                max_tenants: self.max_tenants,
            });
        }
        let mut table = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = table.ids.get(name) {
            return Ok(id);
        }
        let next = table.names.len() as u32;
        if next >= self.max_tenants {
            return Err(TenantError {
                kind: TenantErrorKind::TooMany,
                value: u64::from(next),
                max_tenants: self.max_tenants,
            });
        }
        let name: Arc<str> = Arc::from(name);
        let id = TenantId::new(next);
        table.ids.insert(name.clone(), id);
        table.names.push(name);
        Ok(id)
    }

    pub(crate) fn name(&self, tenant: TenantId) -> Option<Arc<str>> {
        let table = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        table.names.get(tenant.as_u32() as usize).cloned()
    }
}

/// A call that names a tenant was refused: the runtime knows as many
/// tenants as it may, the id is out of range, the weight is, or the name is
/// too long. [`kind`](Self::kind) says which.
#[derive(Clone, Debug)]
pub struct TenantError {
    kind: TenantErrorKind,
    /// What was refused: the id, the weight or the name's length (for
    /// `TooMany`, the id the new tenant would have had).
    value: u64,
    max_tenants: u32,
}

/// Which tenant rule a [`TenantError`] reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum TenantErrorKind {
    /// A new name, and the runtime already knows `max_tenants` tenants
    /// (`Builder::max_tenants`).
    TooMany,
    /// A tenant id at or above `max_tenants`: no queue of the runtime can
    /// keep it apart from the others.
    IdOutOfRange,
    /// A weight outside `Weight::MIN..=Weight::MAX` (1 to 10,000).
    WeightOutOfRange,
    /// A name longer than [`MAX_TENANT_NAME_LEN`] bytes.
    NameTooLong,
}

impl TenantError {
    /// A tenant id at or above `max_tenants`.
    pub(crate) fn id_out_of_range(tenant: TenantId, max_tenants: u32) -> TenantError {
        TenantError {
            kind: TenantErrorKind::IdOutOfRange,
            value: u64::from(tenant.as_u32()),
            max_tenants,
        }
    }

    /// Which rule was broken.
    pub fn kind(&self) -> TenantErrorKind {
        self.kind
    }
}

/// The message names the limit (a constant, or the runtime's
/// `max_tenants`) and the value refused.
impl fmt::Display for TenantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, max_tenants) = (self.value, self.max_tenants);
        match self.kind {
            TenantErrorKind::TooMany => write!(
                f,
                "the runtime knows max_tenants ({max_tenants}) tenants already: \
                 a new name would take id {value}"
            ),
            TenantErrorKind::IdOutOfRange => write!(
                f,
                "a tenant id must be below max_tenants ({max_tenants}), got {value}"
            ),
            TenantErrorKind::WeightOutOfRange => write!(
                f,
                "a weight must be in {}..={}, got {value}",
                Weight::MIN,
                Weight::MAX
            ),
            TenantErrorKind::NameTooLong => write!(
                f,
                "a tenant name must be at most {MAX_TENANT_NAME_LEN} bytes, got {value} bytes"
            ),
        }
    }
}

impl std::error::Error for TenantError {}

/// A weight refused by [`Weight::new`], as a tenant call's error (kind
/// [`WeightOutOfRange`](TenantErrorKind::WeightOutOfRange)), so that one
/// error type covers every call that names a tenant.
impl From<InvalidWeight> for TenantError {
    fn from(error: InvalidWeight) -> TenantError {
        TenantError {
            kind: TenantErrorKind::WeightOutOfRange,
            value: u64::from(error.shares()),
            max_tenants: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_up_to_the_limit_are_interned() {
        let tenants = Tenants::new(4);
        let longest = "x".repeat(MAX_TENANT_NAME_LEN);
        let id = tenants.intern(&longest).unwrap();
        assert_eq!(tenants.name(id).as_deref(), Some(longest.as_str()));
        let too_long = "x".repeat(MAX_TENANT_NAME_LEN + 1);
        let error = tenants.intern(&too_long).unwrap_err();
        assert_eq!(error.kind(), TenantErrorKind::NameTooLong);
        // A refused name takes no id.
        assert_eq!(tenants.intern("next").unwrap(), TenantId::new(2));
    }

    #[test]
    fn the_tenant_bound_counts_the_default() {
        let tenants = Tenants::new(2);
        assert_eq!(tenants.intern("default").unwrap(), TenantId::DEFAULT);
        assert_eq!(tenants.intern("a").unwrap(), TenantId::new(1));
        let error = tenants.intern("b").unwrap_err();
        assert_eq!(error.kind(), TenantErrorKind::TooMany);
    }

    /// What `check` expects: a name's id, or a refusal of a kind.
    type Expect = Result<TenantId, TenantErrorKind>;

    /// Interns each name in turn into a table of `max_tenants`, and checks
    /// the id it gets or the kind of its refusal.
    fn check(max_tenants: u32, script: &[(&str, Expect)]) {
        let tenants = Tenants::new(max_tenants);
        for (name, expect) in script {
            let got = tenants.intern(name).map_err(|error| error.kind());
            assert_eq!(got, *expect, "{name:?}");
        }
    }

    #[test]
    fn each_kind_of_refusal() {
        use TenantErrorKind as K;
        let too_long = "x".repeat(MAX_TENANT_NAME_LEN + 1);
        check(
            2,
            &[
                ("a", Ok(TenantId::new(1))),
                (&too_long, Err(K::NameTooLong)),
                ("b", Err(K::TooMany)),
                ("a", Ok(TenantId::new(1))),
            ],
        );
        let id = TenantId::new(5);
        assert_eq!(TenantError::id_out_of_range(id, 5).kind(), K::IdOutOfRange);
        let weight = Weight::new(0).unwrap_err();
        assert_eq!(TenantError::from(weight).kind(), K::WeightOutOfRange);
    }

    #[test]
    fn messages_name_the_limit_and_the_value() {
        let contains = |error: TenantError, parts: &[String]| {
            let message = error.to_string();
            for part in parts {
                assert!(message.contains(part), "{part:?} not in {message:?}");
            }
        };
        let too_long = "x".repeat(MAX_TENANT_NAME_LEN + 1);
        let error = Tenants::new(4).intern(&too_long).unwrap_err();
        contains(
            error,
            &[
                MAX_TENANT_NAME_LEN.to_string(),
                format!("got {}", too_long.len()),
            ],
        );
        let tenants = Tenants::new(2);
        tenants.intern("a").unwrap();
        contains(
            tenants.intern("b").unwrap_err(),
            &["(2)".into(), "id 2".into()],
        );
        let error = TenantError::id_out_of_range(TenantId::new(9), 5);
        contains(error, &["(5)".into(), "got 9".into()]);
        let refused = Weight::MAX.get() + 1;
        let error = TenantError::from(Weight::new(refused).unwrap_err());
        contains(
            error,
            &[
                format!("{}..={}", Weight::MIN, Weight::MAX),
                format!("got {refused}"),
            ],
        );
    }
}
