//! The agent side: choosing moves epsilon-greedily and learning from each one (Q-learning or Sarsa).

use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use crate::env::Environment;
use crate::qtable::QTable;
use crate::{Error, Result};

/// How the value of the next state enters the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Method {
    /// Off-policy: the best value of the next state, whatever move is made there.
    QLearning,
    /// On-policy: the value of the move actually chosen next (epsilon-greedy included).
    Sarsa,
}

/// The temporal-difference update `Q(s,a) += alpha (r + gamma next - Q(s,a))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TdConfig {
    /// Q-learning or Sarsa.
    pub method: Method,
    /// Learning rate, in (0, 1].
    pub alpha: f64,
    /// Discount of the next state's value, in [0, 1].
    pub gamma: f64,
    /// Whether a final move still adds `gamma` times the stored values of the state it reached. The course's
    /// Flippers code does (and stores values on winning states for it to read); textbook Q-learning counts
    /// a finished game's future as 0.
    pub bootstrap_terminal: bool,
}

impl TdConfig {
    /// An error naming the setting unless the learning rate is in (0, 1] and the discount in [0, 1].
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(Error::setting(
                "learning rate",
                self.alpha,
                "a value in (0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return Err(Error::setting("discount", self.gamma, "a value in [0, 1]"));
        }
        Ok(())
    }

    /// One update of `Q(state, action)` towards `reward + gamma next`.
    pub fn update(&self, q: &mut QTable, state: usize, action: usize, reward: f64, next: f64) {
        let old = q.get(state, action);
        q.set(
            state,
            action,
            old + self.alpha * (reward + self.gamma * next - old),
        );
    }
}

/// How often a random move is made instead of the best one, over the course of training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Epsilon {
    /// The same epsilon for every episode.
    Constant(f64),
    /// The course's schedule: `start exp(-rate e / (fraction N))` for episodes `e < fraction N` of `N`,
    /// then 0 (pure exploitation for the rest).
    ExpDecay {
        /// Epsilon of the first episode.
        start: f64,
        /// How fast it decays.
        rate: f64,
        /// The share of the episodes that explore at all.
        fraction: f64,
    },
    /// From `start` down to `end` in a straight line over the first `fraction` of the episodes, then `end`.
    Linear {
        /// Epsilon of the first episode.
        start: f64,
        /// Epsilon from the end of the decay on.
        end: f64,
        /// The share of the episodes the decay takes.
        fraction: f64,
    },
}

impl Epsilon {
    /// Epsilon for episode `episode` (from 0) of `episodes`.
    pub fn at(&self, episode: usize, episodes: usize) -> f64 {
        let e = episode as f64;
        let span = |fraction: f64| (fraction * episodes as f64).max(1.0);
        match *self {
            Epsilon::Constant(eps) => eps,
            Epsilon::ExpDecay {
                start,
                rate,
                fraction,
            } => {
                if e < fraction * episodes as f64 {
                    start * (-rate * e / span(fraction)).exp()
                } else {
                    0.0
                }
            }
            Epsilon::Linear {
                start,
                end,
                fraction,
            } => start + (end - start) * (e / span(fraction)).min(1.0),
        }
    }

    /// An error naming the setting unless every probability and share is in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let probabilities = match *self {
            Epsilon::Constant(eps) => vec![eps],
            Epsilon::ExpDecay {
                start, fraction, ..
            } => vec![start, fraction],
            Epsilon::Linear {
                start,
                end,
                fraction,
            } => vec![start, end, fraction],
        };
        if let Some(p) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(Error::setting(
                "exploration schedule value",
                p,
                "a probability or fraction in [0, 1]",
            ));
        }
        match *self {
            Epsilon::ExpDecay { rate, .. } if !(rate.is_finite() && rate >= 0.0) => Err(
                Error::setting("exploration decay rate", rate, "a finite rate >= 0"),
            ),
            _ => Ok(()),
        }
    }
}

/// With probability `epsilon` a uniformly random legal action, else the best one (random among equals).
/// `None` when no action is legal.
pub fn epsilon_greedy(
    q: &QTable,
    state: usize,
    legal: &[usize],
    epsilon: f64,
    rng: &mut StdRng,
) -> Option<usize> {
    if legal.is_empty() {
        None
    } else if epsilon > 0.0 && rng.random::<f64>() < epsilon {
        Some(legal[rng.random_range(0..legal.len())])
    } else {
        q.greedy_random_ties(state, legal, rng)
    }
}

/// How one game went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    /// Moves made by the agent.
    pub moves: usize,
    /// The sum of the rewards received.
    pub reward: f64,
    /// Whether the game ended (rather than running into the move limit).
    pub done: bool,
    /// The state it ended in.
    pub final_state: usize,
}

/// Plays one game from `env`'s current state, choosing moves epsilon-greedily and updating `q` after
/// each, for at most `max_moves` moves.
pub fn run_episode<E: Environment>(
    env: &mut E,
    q: &mut QTable,
    td: &TdConfig,
    epsilon: f64,
    max_moves: usize,
    rng: &mut StdRng,
) -> Episode {
    let mut legal = Vec::with_capacity(env.action_count());
    env.legal_actions(&mut legal);
    let mut next_action = epsilon_greedy(q, env.state(), &legal, epsilon, rng);
    let mut episode = Episode {
        moves: 0,
        reward: 0.0,
        done: env.is_done(),
        final_state: env.state(),
    };
    while let Some(action) = next_action.filter(|_| episode.moves < max_moves) {
        let state = env.state();
        let step = env.step(action, rng);
        let reached = env.state();
        env.legal_actions(&mut legal);
        // Sarsa's next move is chosen now, before the update, and then really made.
        next_action = epsilon_greedy(q, reached, &legal, epsilon, rng);
        let next_value = if step.done && !td.bootstrap_terminal {
            0.0
        } else if step.done {
            q.row(reached).iter().copied().fold(f64::MIN, f64::max)
        } else {
            match (td.method, next_action) {
                (Method::QLearning, _) | (Method::Sarsa, None) => q.best_value(reached, &legal),
                (Method::Sarsa, Some(a)) => q.get(reached, a),
            }
        };
        td.update(q, state, action, step.reward, next_value);
        episode.moves += 1;
        episode.reward += step.reward;
        episode.done = step.done;
        episode.final_state = reached;
        if step.done {
            break;
        }
    }
    episode
}

/// Plays one game greedily (first action on ties) without learning, recording every state and move.
pub fn greedy_game<E: Environment>(
    env: &mut E,
    q: &QTable,
    max_moves: usize,
    rng: &mut StdRng,
) -> (Episode, Vec<(usize, usize)>) {
    let mut legal = Vec::with_capacity(env.action_count());
    let mut trace = Vec::new();
    let mut episode = Episode {
        moves: 0,
        reward: 0.0,
        done: env.is_done(),
        final_state: env.state(),
    };
    while !episode.done && episode.moves < max_moves {
        env.legal_actions(&mut legal);
        let Some(action) = q.greedy(env.state(), &legal) else {
            break;
        };
        trace.push((env.state(), action));
        let step = env.step(action, rng);
        episode.moves += 1;
        episode.reward += step.reward;
        episode.done = step.done;
        episode.final_state = env.state();
    }
    (episode, trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Step;
    use rand::SeedableRng;

    /// A corridor 0 - 1 - 2 - 3: action 0 steps left, 1 steps right; reaching 3 pays 1 and ends the game.
    struct Corridor(usize);

    impl Environment for Corridor {
        fn state_count(&self) -> usize {
            4
        }
        fn action_count(&self) -> usize {
            2
        }
        fn state(&self) -> usize {
            self.0
        }
        fn legal_actions(&self, out: &mut Vec<usize>) {
            out.clear();
            if self.0 != 3 {
                out.extend([0, 1]);
            }
        }
        fn step(&mut self, action: usize, _: &mut StdRng) -> Step {
            self.0 = if action == 1 {
                self.0 + 1
            } else {
                self.0.saturating_sub(1)
            };
            Step {
                reward: if self.0 == 3 { 1.0 } else { 0.0 },
                done: self.0 == 3,
            }
        }
        fn is_done(&self) -> bool {
            self.0 == 3
        }
    }

    fn td(method: Method) -> TdConfig {
        TdConfig {
            method,
            alpha: 0.5,
            gamma: 0.9,
            bootstrap_terminal: false,
        }
    }

    #[test]
    fn the_update_rule_by_hand() {
        // Q = 0.4, r = 1, next = 0.6: 0.4 + 0.5 (1 + 0.9 * 0.6 - 0.4) = 0.97.
        let mut q = QTable::new(1, 1);
        q.set(0, 0, 0.4);
        td(Method::QLearning).update(&mut q, 0, 0, 1.0, 0.6);
        assert!((q.get(0, 0) - 0.97).abs() < 1e-12);
    }

    #[test]
    fn a_greedy_walk_updates_each_step_once_by_hand() {
        // From 2, the greedy move right (ties broken towards it by the table) wins at once:
        // Q(2,right) = 0 + 0.5 (1 + 0) = 0.5 with a final state worth nothing.
        let mut q = QTable::new(4, 2);
        q.set(2, 1, 0.0);
        q.set(2, 0, -1.0);
        q.set(3, 0, 7.0); // ignored: the game is over
        let mut rng = StdRng::seed_from_u64(0);
        let ep = run_episode(
            &mut Corridor(2),
            &mut q,
            &td(Method::QLearning),
            0.0,
            10,
            &mut rng,
        );
        assert_eq!(
            (ep.moves, ep.reward, ep.done, ep.final_state),
            (1, 1.0, true, 3)
        );
        assert_eq!(q.get(2, 1), 0.5);
        // With the course's bootstrapping the final state's best stored value counts: 0.5 (1 + 0.9 * 7).
        let mut q2 = QTable::new(4, 2);
        q2.set(2, 0, -1.0);
        q2.set(3, 0, 7.0);
        let boot = TdConfig {
            bootstrap_terminal: true,
            ..td(Method::QLearning)
        };
        run_episode(&mut Corridor(2), &mut q2, &boot, 0.0, 10, &mut rng);
        assert!((q2.get(2, 1) - 0.5 * (1.0 + 0.9 * 7.0)).abs() < 1e-12);
    }

    #[test]
    fn q_learning_and_sarsa_find_the_corridor_values() {
        for method in [Method::QLearning, Method::Sarsa] {
            let mut q = QTable::new(4, 2);
            let mut rng = StdRng::seed_from_u64(1);
            let config = TdConfig {
                alpha: 0.5,
                ..td(method)
            };
            for e in 0..2000 {
                let eps = Epsilon::Linear {
                    start: 1.0,
                    end: 0.0,
                    fraction: 0.8,
                }
                .at(e, 2000);
                run_episode(&mut Corridor(e % 3), &mut q, &config, eps, 50, &mut rng);
            }
            // Optimal values: right from 2 is worth 1, from 1 is worth 0.9, from 0 is worth 0.81.
            for (s, v) in [(2, 1.0), (1, 0.9), (0, 0.81)] {
                assert!(
                    (q.get(s, 1) - v).abs() < 1e-3,
                    "{method:?} Q({s},right) = {}",
                    q.get(s, 1)
                );
            }
            let (ep, trace) = greedy_game(&mut Corridor(0), &q, 10, &mut rng);
            assert_eq!(ep.moves, 3);
            assert_eq!(trace, vec![(0, 1), (1, 1), (2, 1)]);
        }
    }

    #[test]
    fn the_course_schedule_and_the_move_limit() {
        let course = Epsilon::ExpDecay {
            start: 0.8,
            rate: 5.0,
            fraction: 0.5,
        };
        assert_eq!(course.at(0, 3000), 0.8);
        assert!((course.at(750, 3000) - 0.8 * (-2.5f64).exp()).abs() < 1e-12);
        assert_eq!(course.at(1500, 3000), 0.0);
        assert!(Epsilon::Constant(1.5).validate().is_err());
        let mut q = QTable::new(4, 2);
        q.set(0, 0, 1.0); // greedy keeps stepping left against the wall
        let mut rng = StdRng::seed_from_u64(0);
        let ep = run_episode(
            &mut Corridor(0),
            &mut q,
            &td(Method::QLearning),
            0.0,
            7,
            &mut rng,
        );
        assert_eq!((ep.moves, ep.done), (7, false));
    }
}
