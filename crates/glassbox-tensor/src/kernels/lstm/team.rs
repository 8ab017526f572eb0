//! A fixed team of threads that walk a sequence together, meeting at a spinning barrier once per step.
//!
//! Scoped OS threads rather than rayon's pool: a barrier needs every member running at once, and tasks
//! queued on a shared pool do not promise that (two sequences started from two threads on a pool of two
//! could each hold one worker and wait forever for the other). Starting a thread costs tens of
//! microseconds, once per pass over a whole sequence.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `work(member, barrier)` for `members` members at once, member 0 on the calling thread. A panic in
/// any member is propagated (the others leave the barrier instead of waiting for it).
pub fn run_team(members: usize, work: impl Fn(usize, &SpinBarrier) + Sync) {
    let barrier = SpinBarrier::new(members);
    let member = |m: usize| {
        let _guard = PoisonOnPanic(&barrier);
        work(m, &barrier)
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

/// A reusable barrier for a fixed number of threads that spins (the wait is a few microseconds per step)
/// and then yields, so that it still makes progress when the machine has more threads than cores.
pub struct SpinBarrier {
    members: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    fn new(members: usize) -> Self {
        SpinBarrier {
            members,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Returns once every member has called `wait` as often as this one; what each wrote before it is
    /// visible to all after it.
    pub fn wait(&self) {
        if self.members <= 1 {
            return;
        }
        // Read before arriving: the last member bumps the generation only after everyone arrived.
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.members {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation
                .store(generation.wrapping_add(1), Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            assert!(
                !self.poisoned.load(Ordering::Relaxed),
                "lstm: another thread of the team panicked"
            );
            spins += 1;
            if spins < 1 << 14 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Marks the barrier poisoned when a member unwinds, so that the others stop waiting for it.
struct PoisonOnPanic<'a>(&'a SpinBarrier);

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
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_member_sees_the_others_writes_after_each_wait() {
        let members = 3;
        let slots: Vec<AtomicU64> = (0..members).map(|_| AtomicU64::new(0)).collect();
        run_team(members, |m, barrier| {
            for round in 1..=200u64 {
                slots[m].store(round, Ordering::Relaxed);
                barrier.wait();
                for s in &slots {
                    assert_eq!(s.load(Ordering::Relaxed), round);
                }
                barrier.wait();
            }
        });
    }

    #[test]
    fn a_panicking_member_does_not_leave_the_others_waiting() {
        let result = std::panic::catch_unwind(|| {
            run_team(2, |m, barrier| {
                if m == 1 {
                    panic!("member 1 fails");
                }
                barrier.wait();
            })
        });
        assert!(result.is_err());
    }
}
