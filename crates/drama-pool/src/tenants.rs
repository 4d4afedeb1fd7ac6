//! Tenant names, interned to ids.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use drama_policy::TenantId;

/// Tenant names, interned to ids. Bounded by `max_tenants`: id 0 is the
/// default tenant, named "default".
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
        let mut table = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = table.ids.get(name) {
            return Ok(id);
        }
        let next = table.names.len() as u32;
        if next >= self.max_tenants {
            return Err(TenantError {
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

/// The runtime knows as many tenants as it may (`Builder::max_tenants`).
#[derive(Clone, Debug)]
pub struct TenantError {
    max_tenants: u32,
}

impl TenantError {
    /// Why, in words.
    pub fn reason(&self) -> &'static str {
        "the runtime knows as many tenants as max_tenants allows"
    }
}

impl fmt::Display for TenantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.max_tenants)
    }
}

impl std::error::Error for TenantError {}
