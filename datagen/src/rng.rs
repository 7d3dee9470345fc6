//! A small, value-stable random number generator and the samplers the generator needs.
//!
//! Written here rather than taken from `rand` so that the same seed produces the same bytes
//! forever: a dependency upgrade can never change the data set behind a published figure.

use std::f64::consts::PI;

/// SplitMix64's finaliser: a bijection on `u64`, so distinct inputs give distinct outputs.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman and Vigna).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// An independent stream for (`seed`, `stream`, `index`): every customer, merchant and
    /// world-building step draws from its own stream, so results do not depend on the
    /// order or the thread that computes them.
    pub fn stream(seed: u64, stream: u64, index: u64) -> Rng {
        let mut x = mix64(seed ^ mix64(stream.wrapping_add(0x9e37_79b9_7f4a_7c15)))
            ^ mix64(
                index
                    .wrapping_mul(0xd1b5_4a32_d192_ed03)
                    .wrapping_add(stream),
            );
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(x)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe for logarithms.
    #[inline]
    pub fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform in [lo, hi).
    #[inline]
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Standard normal (Box–Muller, one value per call).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        (-2.0 * self.open01().ln()).sqrt() * (2.0 * PI * self.f64()).cos()
    }

    /// Exponential with the given rate.
    #[inline]
    pub fn exp(&mut self, rate: f64) -> f64 {
        -self.open01().ln() / rate
    }

    /// exp(N(mu, sigma²)).
    #[inline]
    pub fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Gamma(shape, scale) by Marsaglia and Tsang.
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = self.open01();
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.open01();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }

    /// Beta(a, b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }

    /// Pareto with minimum 1 and tail index `alpha` (heavy-tailed sizes).
    pub fn pareto(&mut self, alpha: f64) -> f64 {
        self.open01().powf(-1.0 / alpha)
    }

    /// An index drawn with probability proportional to the increments of `cumulative`
    /// (a non-decreasing array of running totals).
    #[inline]
    pub fn pick_cumulative(&mut self, cumulative: &[f64]) -> usize {
        let total = *cumulative.last().expect("non-empty weights");
        let x = self.f64() * total;
        cumulative
            .partition_point(|&c| c <= x)
            .min(cumulative.len() - 1)
    }

    /// An index drawn with probability proportional to `weights`.
    pub fn pick_weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Running totals of `weights`, for [`Rng::pick_cumulative`].
pub fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .into_iter()
        .map(|w| {
            total += w.max(0.0);
            total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, 1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(7, 1, 2).next_u64(),
            Rng::stream(7, 1, 3).next_u64()
        );
        assert_ne!(
            Rng::stream(7, 1, 2).next_u64(),
            Rng::stream(8, 1, 2).next_u64()
        );
    }

    #[test]
    fn sampler_moments() {
        let mut r = Rng::stream(1, 0, 0);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || r.normal()) - 0.0).abs() < 0.01);
        assert!((mean(&mut || r.exp(2.0)) - 0.5).abs() < 0.01);
        assert!((mean(&mut || r.gamma(2.5, 2.0)) - 5.0).abs() < 0.05);
        assert!((mean(&mut || r.gamma(0.5, 1.0)) - 0.5).abs() < 0.02);
        assert!((mean(&mut || r.beta(2.0, 6.0)) - 0.25).abs() < 0.005);
        let c = cumulative([1.0, 0.0, 3.0]);
        let picks: Vec<usize> = (0..n).map(|_| r.pick_cumulative(&c)).collect();
        assert!(!picks.contains(&1));
        let share = picks.iter().filter(|&&i| i == 2).count() as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01);
    }

    #[test]
    fn mix64_is_injective_on_a_sample() {
        let mut seen: Vec<u64> = (0..100_000u64).map(mix64).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100_000);
    }
}
