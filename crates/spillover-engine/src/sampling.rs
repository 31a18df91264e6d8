//! Choosing the next token: greedy, or sampling with temperature, top-k and top-p (nucleus) under a
//! seed. Each sequence draws from its own random stream, derived from the seed and the sequence's
//! index, so a sequence's text depends on the seed and its prompt only, never on batch composition.

/// How the next token is chosen.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampling {
    /// Logits are divided by this before the filters; 0 means greedy.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: no limit).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1: no limit).
    pub top_p: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Greedy decoding (argmax) expressed as sampling options.
    pub fn greedy() -> Self {
        Sampling {
            temperature: 0.0,
            ..Self::default()
        }
    }
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }
    /// Checks the ranges (temperature ≥ 0, 0 < top_p ≤ 1).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!(
                "temperature must be a finite number ≥ 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        Ok(())
    }

    /// The next token for one row of logits, drawing from `rng` when sampling. Temperature first,
    /// then top-k, then top-p (the order of HF's logits warpers).
    pub fn choose(&self, logits: &[f32], rng: &mut Rng) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let inv_t = 1.0 / self.temperature as f64;
        let max = logits[argmax(logits) as usize] as f64;
        let weight = |l: f32| ((l as f64 - max) * inv_t).exp();
        if self.top_k == 0 && self.top_p >= 1.0 {
            // Plain softmax sampling: one pass for the normalizer, one to find the draw.
            let z: f64 = logits.iter().map(|&l| weight(l)).sum();
            let mut u = rng.unit() * z;
            for (i, &l) in logits.iter().enumerate() {
                u -= weight(l);
                if u < 0.0 {
                    return i as u32;
                }
            }
            return argmax(logits);
        }
        let dist = self.distribution(logits);
        let mut u = rng.unit();
        for &(id, p) in &dist {
            if u < p {
                return id;
            }
            u -= p;
        }
        dist[dist.len() - 1].0
    }

    /// The tokens that survive temperature, top-k and top-p, best first (ties by id), with their
    /// probabilities renormalized to sum to 1.
    pub fn distribution(&self, logits: &[f32]) -> Vec<(u32, f64)> {
        if self.is_greedy() {
            return vec![(argmax(logits), 1.0)];
        }
        let inv_t = 1.0 / self.temperature as f64;
        let max = logits[argmax(logits) as usize] as f64;
        let (cand, probs) = self.candidates(logits, max, inv_t);
        let total: f64 = probs.iter().sum();
        cand.iter()
            .zip(probs)
            .map(|(c, p)| (c.0, p / total))
            .collect()
    }

    /// The tokens that survive top-k and top-p, best first, with their probabilities (under the
    /// temperature, renormalized over the top-k set). The nucleus is searched among the best 64,
    /// 1024, ... tokens, so the whole vocabulary is sorted only when the distribution is flat.
    fn candidates(&self, logits: &[f32], max: f64, inv_t: f64) -> (Vec<(u32, f32)>, Vec<f64>) {
        let all: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        let k = if self.top_k == 0 {
            all.len()
        } else {
            self.top_k.min(all.len())
        };
        let weight = |l: f32| ((l as f64 - max) * inv_t).exp();
        let z: f64 = if k == all.len() {
            logits.iter().map(|&l| weight(l)).sum()
        } else {
            let mut top = all.clone();
            top_k_filter(&mut top, k);
            top.iter().map(|c| weight(c.1)).sum()
        };
        let mut look = 64.min(k);
        loop {
            let mut cand = all.clone();
            top_k_filter(&mut cand, look);
            cand.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let probs: Vec<f64> = cand.iter().map(|c| weight(c.1) / z).collect();
            let mass: f64 = probs.iter().sum();
            if look == k || mass >= self.top_p as f64 {
                let keep = top_p_len(&probs, self.top_p).min(cand.len());
                return (cand[..keep].to_vec(), probs[..keep].to_vec());
            }
            look = (look * 16).min(k);
        }
    }
}

/// Index of the largest value (the first one on ties, as torch.argmax).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Keeps the k largest candidates (all when k is 0 or ≥ len), in no particular order.
pub fn top_k_filter(cand: &mut Vec<(u32, f32)>, k: usize) {
    if k == 0 || k >= cand.len() {
        return;
    }
    cand.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    cand.truncate(k);
}

/// How many of the sorted probabilities form the nucleus: the fewest whose sum reaches `top_p`
/// (at least one).
pub fn top_p_len(sorted_probs: &[f64], top_p: f32) -> usize {
    if top_p >= 1.0 {
        return sorted_probs.len();
    }
    let mut acc = 0.0;
    for (i, p) in sorted_probs.iter().enumerate() {
        acc += p;
        if acc >= top_p as f64 {
            return i + 1;
        }
    }
    sorted_probs.len().max(1)
}

/// The sampler's generator: the workspace's SplitMix64, identical on every platform.
pub use spillover_core::rng::SplitMix64 as Rng;

/// The stream of sequence `index` under `seed` (the seed mixed with the index, first output
/// discarded), so each row of a batch samples independently.
pub fn sequence_rng(seed: u64, index: usize) -> Rng {
    let mut r = Rng::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64();
    r
}
