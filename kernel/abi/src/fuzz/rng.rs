//! The fuzzer's random numbers: SplitMix64 (Steele, Lea and Flood, "Fast
//! splittable pseudorandom number generators", OOPSLA 2014), the generator
//! Java's `SplittableRandom` uses. A few instructions per number, no
//! multiplication wider than 64 bits, and a good finaliser, so that two
//! seeds one apart give unrelated streams: a case is named by its seed and
//! a call by (seed, index).

/// The finaliser of SplitMix64 (Stafford's "Mix13"): a bijection on u64
/// whose every output bit depends on every input bit.
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A stream for the `index`-th thing named by `seed`.
    pub const fn derived(seed: u64, index: u64) -> Rng {
        Rng(mix(seed ^ mix(index.wrapping_add(GAMMA))))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `n` > 0).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True once in `n` times on average.
    #[inline]
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// An index chosen by `weights` (not all zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w as u64 {
                return i;
            }
            x -= w as u64;
        }
        weights.len() - 1
    }

    /// A word that is often a boundary value: kernels get those wrong most.
    pub fn word(&mut self) -> u64 {
        const EDGES: [u64; 8] = [
            0,
            1,
            0x7FFF_FFFF,
            0xFFFF_FFFF,
            0x8000_0000_0000_0000,
            u64::MAX,
            0x0000_7FFF_FFFF_FFFF,
            0xFFFF_8000_0000_0000,
        ];
        match self.below(4) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => self.below(0x1000),
            _ => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        assert_eq!(Rng::new(7).next_u64(), Rng::new(7).next_u64());
        let mut r = Rng::derived(7, 0);
        let mut s = Rng::derived(7, 1);
        assert_ne!(r.next_u64(), s.next_u64());
        // The reference value of SplitMix64 seeded with 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_and_weighted_stay_in_range() {
        let mut r = Rng::new(42);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            assert!(r.below(10) < 10);
            seen[r.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(seen[1], 0, "a zero weight is never chosen");
        assert!(seen[2] > seen[0], "{seen:?}");
    }
}
