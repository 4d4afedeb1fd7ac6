//! Tenant weights: shares of the CPU relative to other tenants.

use core::fmt;

/// A tenant's share of the CPU relative to other tenants, in `1..=10_000`.
///
/// The scale follows Linux cgroup v2's `cpu.weight`: the default is 100, so
/// a tenant can be given less than the default (down to 1/100) as well as
/// more (up to 100×). Two backlogged tenants with weights 100 and 300 get
/// CPU time in the ratio 1:3.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(u32);

impl Weight {
    /// The smallest weight.
    pub const MIN: Weight = Weight(1);
    /// The largest weight.
    pub const MAX: Weight = Weight(10_000);
    /// The weight of a tenant nobody set a weight for.
    pub const DEFAULT: Weight = Weight(100);

    /// A weight of `shares`.
    ///
    /// # Errors
    ///
    /// `shares` outside `1..=10_000` (a weight of 0 would starve the tenant,
    /// and larger ratios than 10,000:1 make a turn of the heavy tenant
    /// longer than any latency target).
    pub const fn new(shares: u32) -> Result<Weight, InvalidWeight> {
        if shares >= Weight::MIN.0 && shares <= Weight::MAX.0 {
            Ok(Weight(shares))
        } else {
            Err(InvalidWeight { shares })
        }
    }

    /// The shares, in `1..=10_000`.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Weight {
    fn default() -> Weight {
        Weight::DEFAULT
    }
}

impl fmt::Debug for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weight({})", self.0)
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<u32> for Weight {
    type Error = InvalidWeight;

    fn try_from(shares: u32) -> Result<Weight, InvalidWeight> {
        Weight::new(shares)
    }
}

/// A weight outside [`Weight::MIN`]`..=`[`Weight::MAX`] (1 to 10,000) was
/// asked for; [`shares`](Self::shares) is the value refused.
///
/// ```
/// use drama_policy::Weight;
///
/// let error = Weight::new(0).unwrap_err();
/// assert_eq!(error.shares(), 0);
/// assert_eq!(
///     error.to_string(),
///     format!("weight must be in {}..={}, got 0", Weight::MIN, Weight::MAX),
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidWeight {
    shares: u32,
}

impl InvalidWeight {
    /// The value that was refused.
    pub const fn shares(&self) -> u32 {
        self.shares
    }
}

impl fmt::Display for InvalidWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "weight must be in {}..={}, got {}",
            Weight::MIN,
            Weight::MAX,
            self.shares
        )
    }
}

impl core::error::Error for InvalidWeight {}
