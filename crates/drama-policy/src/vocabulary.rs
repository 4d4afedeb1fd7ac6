//! Tenants and classes: the two labels every task carries.

use core::fmt;

/// Identifies a tenant: the party whose work is being scheduled and charged.
///
/// A `TenantId` is a plain number. The runtime interns tenant names into ids
/// (`Runtime::tenant("acme")`); a simulator or a test may make them directly
/// with [`TenantId::new`]. Id 0 is [`TenantId::DEFAULT`], the tenant of work
/// spawned without one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TenantId(u32);

impl TenantId {
    /// The tenant of work that names none.
    pub const DEFAULT: TenantId = TenantId(0);

    /// Makes the id with the given number.
    pub const fn new(id: u32) -> TenantId {
        TenantId(id)
    }

    /// The id's number, e.g. to index a table of tenants.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant-{}", self.0)
    }
}

/// What kind of work a task is, which sets its weak priority inside its
/// tenant: `Write > Compute > Read > Accept`.
///
/// Writes come first because finishing them releases resources (buffers,
/// locks, replicas waiting on an acknowledgement); accepts come last because
/// each one admits new work into an already busy process. The priority is
/// weak: classes get weighted shares, never strict precedence, so no class
/// starves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[non_exhaustive]
#[repr(u8)]
pub enum Class {
    /// Work that completes or persists something and releases resources.
    Write = 0,
    /// Plain computation; the class of work that names none.
    #[default]
    Compute = 1,
    /// Work that reads and answers.
    Read = 2,
    /// Work that accepts new requests or connections.
    Accept = 3,
}

impl Class {
    /// How many classes there are; the length of per-class tables.
    pub const COUNT: usize = 4;

    /// Every class, highest priority first.
    pub const ALL: [Class; Class::COUNT] =
        [Class::Write, Class::Compute, Class::Read, Class::Accept];

    /// The class's rank: 0 for the highest priority (`Write`), counting up.
    /// Also its index into per-class tables of length [`Class::COUNT`].
    pub const fn priority(self) -> usize {
        self as usize
    }

    /// The class's name in lower case, as used in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Write => "write",
            Class::Compute => "compute",
            Class::Read => "read",
            Class::Accept => "accept",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of an IO operation a task has in flight: what admission limits
/// per kind (a disk with a bounded queue depth, a connection pool) and what
/// the scheduler's view counts per tenant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[non_exhaustive]
#[repr(u8)]
pub enum IoKind {
    /// Accepting a connection or a request.
    Accept = 0,
    /// Opening a connection to another service.
    Connect = 1,
    /// Reading: from a socket, a file, a device.
    Read = 2,
    /// Writing: to a socket, a file, a device (fsync included).
    Write = 3,
    /// Anything else (a DNS lookup, a lock service).
    Other = 4,
}

impl IoKind {
    /// How many kinds there are; the length of per-kind tables.
    pub const COUNT: usize = 5;

    /// Every kind, in index order.
    pub const ALL: [IoKind; IoKind::COUNT] = [
        IoKind::Accept,
        IoKind::Connect,
        IoKind::Read,
        IoKind::Write,
        IoKind::Other,
    ];

    /// The kind's index into per-kind tables of length [`IoKind::COUNT`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kind's name in lower case, as used in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            IoKind::Accept => "accept",
            IoKind::Connect => "connect",
            IoKind::Read => "read",
            IoKind::Write => "write",
            IoKind::Other => "other",
        }
    }
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn io_kinds_index_in_order() {
        for (index, kind) in IoKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
    }

    use super::*;

    #[test]
    fn all_is_in_priority_order() {
        for (rank, class) in Class::ALL.iter().enumerate() {
            assert_eq!(class.priority(), rank);
        }
    }

    #[test]
    fn default_tenant_is_zero() {
        assert_eq!(TenantId::default(), TenantId::DEFAULT);
        assert_eq!(TenantId::DEFAULT.as_u32(), 0);
    }
}
