//! Order statistics of a mode's samples. Percentiles are nearest-rank: the
//! p-th percentile of n sorted values is the value at rank ⌈p·n⌉, so every
//! number reported is one that was measured.

use serde::Serialize;

/// Min, median, 90th percentile and max of some values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Smallest.
    pub min: f64,
    /// Nearest-rank 50th percentile.
    pub median: f64,
    /// Nearest-rank 90th percentile.
    pub p90: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Summary {
            min: v[0],
            median: nearest_rank(&v, 0.5),
            p90: nearest_rank(&v, 0.9),
            max: v[v.len() - 1],
        })
    }
}

/// The nearest-rank `p` percentile of sorted, non-empty values.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Summary::of([5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.p90, s.max), (1.0, 3.0, 5.0, 5.0));
        let s = Summary::of((1..=10).map(f64::from)).unwrap();
        assert_eq!((s.median, s.p90), (5.0, 9.0));
        let s = Summary::of([2.0, 1.0, 4.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.0, "the lower middle value for an even count");
        assert!(Summary::of([]).is_none());
        assert!(Summary::of([f64::NAN]).is_none());
    }
}
