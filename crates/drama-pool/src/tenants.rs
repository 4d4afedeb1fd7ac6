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
    /// A weight outside `Weight::MIN..=Weight::MAX` (1..=10,000).
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

    /// Why, in words.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            TenantErrorKind::TooMany => "the runtime knows as many tenants as max_tenants allows",
            TenantErrorKind::IdOutOfRange => "the tenant id is not below max_tenants",
            TenantErrorKind::WeightOutOfRange => "the weight is outside 1..=10_000",
            TenantErrorKind::NameTooLong => "the tenant name is longer than MAX_TENANT_NAME_LEN",
        }
    }
}

impl fmt::Display for TenantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.reason();
        match self.kind {
            TenantErrorKind::TooMany => write!(f, "{reason} ({})", self.max_tenants),
            TenantErrorKind::IdOutOfRange => write!(
                f,
                "{reason}: id {}, max_tenants {}",
                self.value, self.max_tenants
            ),
            TenantErrorKind::WeightOutOfRange => write!(
                f,
                "{reason}: {} (weights are {}..={})",
                self.value,
                Weight::MIN,
                Weight::MAX
            ),
            TenantErrorKind::NameTooLong => write!(
                f,
                "{reason}: {} bytes, at most {MAX_TENANT_NAME_LEN}",
                self.value
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
        assert!(error.to_string().contains("(2)"), "{error}");
    }
}
