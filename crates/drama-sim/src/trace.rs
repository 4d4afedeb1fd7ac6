//! The trace hash: a fingerprint of everything the policy decided.

/// 64-bit FNV-1a over the little-endian bytes of the recorded words.
///
/// FNV-1a is not a strong hash, but it is tiny, has no dependency, and is
/// defined byte for byte, so a recorded hash stays comparable across
/// platforms and releases; that is all a determinism check needs.
#[derive(Debug, Clone)]
pub(crate) struct Fnv1a {
    state: u64,
}

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(crate) const fn new() -> Fnv1a {
        Fnv1a {
            state: Self::OFFSET_BASIS,
        }
    }

    /// Hashes one record: its words in order.
    pub(crate) fn record(&mut self, words: &[u64]) {
        for word in words {
            for byte in word.to_le_bytes() {
                self.state ^= u64::from(byte);
                self.state = self.state.wrapping_mul(Self::PRIME);
            }
        }
    }

    pub(crate) const fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // FNV-1a 64 of the single byte 'a' (0x61), from the reference
        // test vectors; a word is 8 bytes, so hash 'a' by hand here.
        let mut h = Fnv1a::new();
        h.state ^= 0x61;
        h.state = h.state.wrapping_mul(Fnv1a::PRIME);
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
