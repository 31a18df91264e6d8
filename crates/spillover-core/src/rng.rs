//! The workspace's seeded generators. Their streams are fixed by this file, not by a crate
//! version, so the same seed draws the same items, weights, masks and nulls in every release.
//!
//! Some draws come in more than one flavour (a float in `[0, 1)` or in `(0, 1]`, an index by
//! rejection, by modulo or by scaling): each flavour is the exact arithmetic one caller used
//! before the generators had one home, kept so every existing stream stays bit-identical. New code
//! should prefer [`SplitMix64::unit`] and [`SplitMix64::below`].

/// SplitMix64 (Steele, Lea & Flood 2014; Vigna's `splitmix64.c`): 64-bit state, passes BigCrush,
/// trivially portable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose state is `seed` (its first output is the reference stream's first).
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The current state: [`SplitMix64::new`] of it resumes the stream exactly here.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// A generator for one purpose (`"train-split"`, `"sample:mmlu"`, ...) under a run seed, so
    /// independent draws do not share a stream: the seed xor the FNV-1a hash of the purpose, with
    /// the first output discarded.
    pub fn for_purpose(seed: u64, purpose: &str) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in purpose.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = SplitMix64::new(seed ^ h);
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`: the top 53 bits over 2^53.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform float in `(0, 1]`: the top 53 bits plus one over 2^53 (safe under `ln`).
    pub fn unit_nonzero(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// A uniform `f32` in `[0, 1)`: the top 24 bits over 2^24.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A standard normal draw by Box–Muller, from `u1 = 1 − unit()` (in `(0, 1]`) and
    /// `u2 = unit()`; one draw per call (the sine half is discarded).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A uniformly random unit vector in `d` dimensions ([`SplitMix64::normal`] draws, normalised).
    pub fn unit_vector(&mut self, d: usize) -> Vec<f32> {
        let v: Vec<f64> = (0..d).map(|_| self.normal()).collect();
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        v.iter().map(|x| (x / n) as f32).collect()
    }

    /// A uniform integer in `0..n`, unbiased (by rejection); `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// An integer in `0..n` as the next output modulo `n` (biased by at most n/2^64; one draw
    /// always); `n` must be positive.
    pub fn below_by_modulo(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below_by_modulo(0)");
        self.next_u64() % n
    }

    /// An index in `0..n` by scaling [`SplitMix64::unit`] (one draw always); `n` must be positive.
    pub fn below_by_scaling(&mut self, n: usize) -> usize {
        assert!(n > 0, "below_by_scaling(0)");
        ((self.unit() * n as f64) as usize).min(n - 1)
    }

    /// A uniform integer in `lo..=hi` (by [`SplitMix64::below`]).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Shuffles `items` in place (Fisher–Yates, by [`SplitMix64::below`]).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `k` distinct indices of `0..n`, sorted ascending; `k` must be at most `n`.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot sample {k} of {n}");
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            all.swap(i, j);
        }
        let mut picked = all[..k].to_vec();
        picked.sort_unstable();
        picked
    }
}

/// xoshiro256** (Blackman & Vigna 2018), its four state words the first four outputs of
/// [`SplitMix64`] under the seed: the bootstraps' and permutation tests' generator.
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Xoshiro256 {
        let mut seeder = SplitMix64::new(seed);
        let mut next = || seeder.next_u64();
        Xoshiro256 {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` without modulo bias (Lemire 2019, with rejection); `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs of Vigna's reference `splitmix64.c`, computed outside this crate (a
    /// five-line Python transcription of the C code with 64-bit masking).
    const SEED_0: [u64; 5] = [
        16294208416658607535,
        7960286522194355700,
        487617019471545679,
        17909611376780542444,
        1961750202426094747,
    ];
    const SEED_1234567: [u64; 5] = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ];

    fn first5(seed: u64) -> [u64; 5] {
        let mut r = SplitMix64::new(seed);
        std::array::from_fn(|_| r.next_u64())
    }

    #[test]
    fn matches_the_published_splitmix64_stream() {
        assert_eq!(first5(0), SEED_0);
        assert_eq!(first5(1234567), SEED_1234567);
    }

    #[test]
    fn the_state_resumes_the_stream() {
        let mut r = SplitMix64::new(1234567);
        r.next_u64();
        let mut resumed = SplitMix64::new(r.state());
        assert_eq!(resumed.next_u64(), SEED_1234567[1]);
    }

    #[test]
    fn floats_are_the_documented_bits_of_the_next_output() {
        let x = SEED_1234567[0];
        let two53 = 9007199254740992.0;
        assert_eq!(SplitMix64::new(1234567).unit(), (x >> 11) as f64 / two53);
        assert_eq!(
            SplitMix64::new(1234567).unit_nonzero(),
            ((x >> 11) as f64 + 1.0) / two53
        );
        assert_eq!(
            SplitMix64::new(1234567).unit_f32(),
            (x >> 40) as f32 / 16777216.0
        );
        assert_eq!(SplitMix64::new(1234567).below_by_modulo(10), x % 10);
        // 6457827717110365317 / 2^64 = 0.3500..., so scaling to 10 gives 3.
        assert_eq!(SplitMix64::new(1234567).below_by_scaling(10), 3);
    }

    #[test]
    fn xoshiro_is_seeded_by_the_reference_stream() {
        let r = Xoshiro256::new(1234567);
        assert_eq!(r.s, SEED_1234567[..4]);
    }

    #[test]
    fn sampling_is_distinct_sorted_and_seeded() {
        let a = SplitMix64::new(7).sample_indices(50, 20);
        assert_eq!(a, SplitMix64::new(7).sample_indices(50, 20));
        assert_ne!(a, SplitMix64::new(8).sample_indices(50, 20));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 50));
        assert_eq!(SplitMix64::new(1).sample_indices(5, 5), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn bounded_draws_stay_in_range_and_cover_it() {
        let (mut a, mut b) = (SplitMix64::new(3), Xoshiro256::new(3));
        let (mut seen_a, mut seen_b) = ([false; 7], [false; 7]);
        for _ in 0..500 {
            seen_a[a.below(7) as usize] = true;
            seen_b[b.below(7)] = true;
        }
        assert!(seen_a.iter().all(|&s| s) && seen_b.iter().all(|&s| s));
    }

    #[test]
    fn unit_vectors_have_unit_norm_and_normals_are_standard() {
        let mut r = SplitMix64::new(1);
        let (a, b) = (r.unit_vector(16), r.unit_vector(16));
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert_ne!(a, b);
        let xs: Vec<f64> = (0..20_000).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{m} {var}");
    }
}
