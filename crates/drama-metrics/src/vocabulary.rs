//! The names the view uses for classes, IO kinds and refusal reasons.
//!
//! drama-metrics depends on no other drama crate (so that a user's own
//! executor or a simulator can use it), so it keeps its own copy of these
//! short lists; drama-pool checks at compile time and in a test that they
//! match drama-policy's and drama-core's.

/// Classes of work, in priority order (the index of per-class tables).
pub const CLASSES: usize = 4;

/// The classes' names, by index: drama-policy's `Class::as_str`.
pub const CLASS_NAMES: [&str; CLASSES] = ["write", "compute", "read", "accept"];

/// Kinds of IO (the index of per-kind tables).
pub const IO_KINDS: usize = 5;

/// The IO kinds' names, by index: drama-policy's `IoKind::as_str`.
pub const IO_KIND_NAMES: [&str; IO_KINDS] = ["accept", "connect", "read", "write", "other"];

/// Reasons a spawn or an admission is refused (the index of per-reason
/// tables).
pub const REASONS: usize = 6;

/// The reasons' names, by index: drama-core's `RejectReason`s that a
/// tenant's spawn can get while the runtime runs, in snake case (a spawn
/// refused at shutdown is not counted).
pub const REASON_NAMES: [&str; REASONS] = [
    "overloaded",
    "over_share",
    "queue_full",
    "io_depth",
    "deadline_unreachable",
    "invalid_tenant",
];
