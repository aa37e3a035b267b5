//! Which copies one scrub reads: those not verified for `max_age` (the daemon's slice), then a
//! random share of them (`--sample`, like restic's `--read-data-subset`). Pure: `now` and the
//! seed come in, so a run can be told again from its seed.
//!
//! A copy whose manifest cannot be read has no `verified_at`: it is always due (it is a
//! problem to report, and reading it costs nothing).

use std::time::Duration;

use time::OffsetDateTime;

/// What one scrub covers; the default covers everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only copies whose `verified_at` is older than this.
    pub max_age: Option<Duration>,
    /// Percent (1..=100) of the due copies, picked at random from `seed`.
    pub sample: Option<u8>,
    pub seed: u64,
}

/// The copies picked, as indexes into the input, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub picked: Vec<usize>,
    /// Verified within `max_age`: skipped.
    pub recent: usize,
    /// Due (not recent) copies the sample left out.
    pub unsampled: usize,
}

/// Picks from `copies` (label, `verified_at` when the manifest is readable).
pub fn select(
    copies: &[(String, Option<OffsetDateTime>)],
    now: OffsetDateTime,
    scope: &Scope,
) -> Selection {
    let due: Vec<usize> = copies
        .iter()
        .enumerate()
        .filter(|(_, (_, at))| match (scope.max_age, at) {
            (Some(age), Some(at)) => now - *at >= age,
            _ => true,
        })
        .map(|(i, _)| i)
        .collect();
    let recent = copies.len() - due.len();
    let mut picked = match scope.sample {
        None | Some(100..) => due.clone(),
        Some(pct) => {
            // Exactly the share asked (rounded up, so any due copy gives at least one), the
            // ones whose seeded hash ranks first: a fair random subset without a RNG crate.
            let want = (due.len() * usize::from(pct)).div_ceil(100);
            let mut ranked: Vec<(u64, usize)> = due
                .iter()
                .map(|&i| (mix(scope.seed ^ fnv(&copies[i].0)), i))
                .collect();
            ranked.sort_unstable();
            ranked.into_iter().take(want).map(|(_, i)| i).collect()
        }
    };
    picked.sort_unstable();
    Selection {
        unsampled: due.len() - picked.len(),
        picked,
        recent,
    }
}

/// FNV-1a of the label: stable across runs and platforms.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser: spreads the seed's bits over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-01 12:00 UTC);
    const DAY: Duration = Duration::from_secs(86400);

    fn copies(ages_days: &[Option<i64>]) -> Vec<(String, Option<OffsetDateTime>)> {
        ages_days
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("inst/{i}"),
                    a.map(|d| NOW - time::Duration::days(d)),
                )
            })
            .collect()
    }

    #[test]
    fn max_age_picks_copies_not_verified_for_that_long() {
        let c = copies(&[Some(0), Some(6), Some(7), Some(30), None]);
        for (max_age, picked, recent) in [
            (None, vec![0, 1, 2, 3, 4], 0),
            (Some(7 * DAY), vec![2, 3, 4], 2),
            (Some(31 * DAY), vec![4], 4),
            (Some(Duration::ZERO), vec![0, 1, 2, 3, 4], 0),
        ] {
            let scope = Scope {
                max_age,
                ..Scope::default()
            };
            let s = select(&c, NOW, &scope);
            assert_eq!((s.picked, s.recent), (picked, recent), "{max_age:?}");
        }
    }

    #[test]
    fn samples_take_the_share_asked_and_depend_on_the_seed() {
        let c = copies(&[Some(1); 10]);
        for (pct, want) in [(1, 1), (10, 1), (50, 5), (55, 6), (99, 10), (100, 10)] {
            let s = select(
                &c,
                NOW,
                &Scope {
                    sample: Some(pct),
                    seed: 7,
                    ..Scope::default()
                },
            );
            assert_eq!(s.picked.len(), want, "{pct}%");
            assert_eq!(s.unsampled, 10 - want, "{pct}%");
        }
        let half = |seed| {
            select(
                &c,
                NOW,
                &Scope {
                    sample: Some(50),
                    seed,
                    ..Scope::default()
                },
            )
            .picked
        };
        assert_eq!(half(1), half(1), "same seed, same copies");
        assert!(
            (2..50).any(|seed| half(seed) != half(1)),
            "the seed changes the pick"
        );
        let none = select(
            &copies(&[]),
            NOW,
            &Scope {
                sample: Some(50),
                ..Scope::default()
            },
        );
        assert!(none.picked.is_empty());
    }

    #[test]
    fn the_sample_is_taken_among_the_due_copies() {
        let c = copies(&[Some(0), Some(0), Some(10), Some(10), Some(10), Some(10)]);
        let s = select(
            &c,
            NOW,
            &Scope {
                max_age: Some(7 * DAY),
                sample: Some(50),
                seed: 3,
            },
        );
        assert_eq!((s.picked.len(), s.recent, s.unsampled), (2, 2, 2));
        assert!(s.picked.iter().all(|&i| i >= 2), "{:?}", s.picked);
    }
}
