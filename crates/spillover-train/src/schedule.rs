//! Learning-rate schedules: linear warmup, then constant, linear or cosine decay to zero (the
//! shapes of HF's get_{constant,linear,cosine}_schedule_with_warmup).

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    Constant,
    Linear,
    Cosine,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub peak_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub decay: Decay,
}

impl Schedule {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let factor = match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => 1.0 - progress,
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        };
        self.peak_lr * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay_shapes() {
        let s = |decay| Schedule {
            peak_lr: 1.0,
            warmup_steps: 10,
            total_steps: 110,
            decay,
        };
        for d in [Decay::Constant, Decay::Linear, Decay::Cosine] {
            assert_eq!(s(d).lr(0), 0.0);
            assert!((s(d).lr(5) - 0.5).abs() < 1e-12);
            assert!((s(d).lr(10) - 1.0).abs() < 1e-12);
        }
        assert!((s(Decay::Linear).lr(60) - 0.5).abs() < 1e-12);
        assert!(
            (s(Decay::Cosine).lr(60) - 0.5).abs() < 1e-12,
            "cos(π/2) midpoint"
        );
        assert!(s(Decay::Cosine).lr(110).abs() < 1e-12);
        assert_eq!(s(Decay::Constant).lr(109), 1.0);
    }
}
