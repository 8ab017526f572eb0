//! A team of threads that walk a sequence together, phase by phase (the LSTM's passes: a step, or half a
//! step; or one phase of a few products, `gemm::sgemm_in_blocks`): each phase is a number of jobs, every member takes the jobs of its home share first (so that each keeps working on
//! the same hidden units, whose weights stay in its own cache), then takes over jobs of members that have
//! not got to theirs, and waits until all jobs of the phase are done.
//!
//! Taking over matters on a busy machine: with a plain barrier a member that the OS has descheduled stalls
//! every other member at every step. A job computes the same numbers whoever runs it, so the results do
//! not depend on who did what.
//!
//! Scoped OS threads rather than rayon's pool: rayon does not promise that the members run at once (two
//! sequences started from two threads on a pool of two could each hold one worker and wait forever for the
//! other). Starting a thread costs tens of microseconds, once per pass over a whole sequence.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::kernels::parallel::partition;

/// Runs `work(crew)` on `members` threads at once, member 0 on the calling thread. Every member must run
/// the same sequence of phases ([`Crew::jobs`]). A panic in any member is propagated (the others stop
/// waiting for it).
pub fn run_team(members: usize, work: impl Fn(&Crew) + Sync) {
    let shared = Shared {
        claims: (0..members.max(1))
            .map(|_| Padded(AtomicU64::new(0)))
            .collect(),
        done: Padded(AtomicU64::new(0)),
        poisoned: AtomicBool::new(false),
    };
    let member = |m: usize| {
        let _guard = PoisonOnPanic(&shared);
        work(&Crew {
            shared: &shared,
            member: m,
            phase: std::cell::Cell::new(0),
            target: std::cell::Cell::new(0),
        })
    };
    if members <= 1 {
        return member(0);
    }
    std::thread::scope(|s| {
        for m in 1..members {
            let member = &member;
            s.spawn(move || member(m));
        }
        member(0);
    });
}

/// One member's view of the team.
pub struct Crew<'a> {
    shared: &'a Shared,
    member: usize,
    /// Phases this member has run.
    phase: std::cell::Cell<u32>,
    /// Jobs of all phases so far: the phase is over when `shared.done` reaches it.
    target: std::cell::Cell<u64>,
}

impl<'a> Crew<'a> {
    /// How many threads the team has.
    pub fn members(&self) -> usize {
        self.shared.claims.len()
    }

    /// The jobs `0..jobs` of the next phase that this member runs, as they are claimed: its home share
    /// first, then the others' in turn. The iterator ends once every job of the phase is done (on some
    /// member), and what they wrote is then visible to this one; it must be run to its end.
    ///
    /// An iterator rather than a method taking the job as a closure: the job's body then stays in the
    /// caller, compiled for the caller's instruction set.
    pub fn jobs(&self, jobs: usize) -> Jobs<'_, 'a> {
        let members = self.shared.claims.len();
        let phase = self.phase.get().wrapping_add(1);
        self.phase.set(phase);
        self.target.set(self.target.get() + jobs as u64);
        Jobs {
            crew: self,
            phase,
            homes: partition(jobs, members),
            turn: 0,
            running: false,
        }
    }
}

/// The jobs of one phase as one member claims them; see [`Crew::jobs`].
pub struct Jobs<'c, 'a> {
    crew: &'c Crew<'a>,
    phase: u32,
    homes: Vec<std::ops::Range<usize>>,
    /// Whose share is being claimed: this member's own plus `turn`.
    turn: usize,
    /// Whether the job last returned is running (it is done when `next` is called again).
    running: bool,
}

impl Iterator for Jobs<'_, '_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let shared = self.crew.shared;
        if std::mem::take(&mut self.running) {
            shared.done.0.fetch_add(1, Ordering::Release);
        }
        let members = shared.claims.len();
        while self.turn < members {
            let m = (self.crew.member + self.turn) % members;
            if let Some(home) = self.homes.get(m) {
                if let Some(j) = claim(&shared.claims[m].0, self.phase, home.clone()) {
                    self.running = true;
                    return Some(j);
                }
            }
            self.turn += 1;
        }
        let mut spins = 0u32;
        while shared.done.0.load(Ordering::Acquire) < self.crew.target.get() {
            assert!(
                !shared.poisoned.load(Ordering::Relaxed),
                "lstm: another thread of the team panicked"
            );
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        None
    }
}

/// Takes the next unclaimed job of `home` in `phase` from the member's claim word (the phase of its last
/// claim in the high half, the next job in the low half; a word still on an earlier phase has claimed
/// nothing of this one).
fn claim(word: &AtomicU64, phase: u32, home: std::ops::Range<usize>) -> Option<usize> {
    let mut seen = word.load(Ordering::Acquire);
    loop {
        // How far the word's phase is ahead of ours (members that finished this phase may be a few
        // phases on, having done every job of them, while this one still looks for work here).
        let ahead = ((seen >> 32) as u32).wrapping_sub(phase) as i32;
        let next = match ahead {
            0 => (seen & 0xffff_ffff) as usize,
            1.. => return None,
            _ => home.start,
        };
        if next >= home.end {
            return None;
        }
        let claimed = ((phase as u64) << 32) | (next as u64 + 1);
        match word.compare_exchange_weak(seen, claimed, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(next),
            Err(now) => seen = now,
        }
    }
}

struct Shared {
    /// One claim word per member, for the jobs of its home share.
    claims: Vec<Padded>,
    /// Jobs done over all phases.
    done: Padded,
    poisoned: AtomicBool,
}

/// A counter on its own cache line, so that members bumping different ones do not slow each other.
#[repr(align(64))]
struct Padded(AtomicU64);

/// Marks the team poisoned when a member unwinds, so that the others stop waiting for it.
struct PoisonOnPanic<'a>(&'a Shared);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_job_runs_once_per_phase_and_phases_do_not_overlap() {
        for members in [1, 2, 3, 5] {
            let jobs = 7;
            let runs: Vec<AtomicUsize> = (0..jobs).map(|_| AtomicUsize::new(0)).collect();
            run_team(members, |crew| {
                for round in 1..=300 {
                    for j in crew.jobs(jobs) {
                        // Every job of the previous phase is done before any of this one starts.
                        for r in &runs {
                            assert!(r.load(Ordering::Relaxed) >= round - 1);
                        }
                        runs[j].fetch_add(1, Ordering::Relaxed);
                    }
                    // Done when `phase` returns (others may have gone on to later phases since).
                    for r in &runs {
                        assert!(r.load(Ordering::Relaxed) >= round, "x{members}");
                    }
                    // A phase with fewer jobs than members.
                    crew.jobs(1).for_each(drop);
                }
            });
            for r in &runs {
                assert_eq!(r.load(Ordering::Relaxed), 300, "x{members}");
            }
        }
    }

    #[test]
    fn a_member_that_starts_late_finds_its_work_done() {
        let done = AtomicUsize::new(0);
        run_team(2, |crew| {
            if crew.member == 1 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            for _ in crew.jobs(10) {
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(done.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn a_panicking_member_does_not_leave_the_others_waiting() {
        let result = std::panic::catch_unwind(|| {
            run_team(2, |crew| {
                for j in crew.jobs(2) {
                    if j == 1 {
                        panic!("job 1 fails");
                    }
                }
            })
        });
        assert!(result.is_err());
    }
}
