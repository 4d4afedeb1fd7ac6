//! Whose turn it is on a worker: the hand-off slot, the spill list or the
//! policy. A pure state machine, so that its two rules are scripted in
//! tests rather than timed:
//!
//! - **The hand-off slot's streak cap.** A task woken by the task that ran
//!   just before it on the same worker runs next, skipping the queue (the
//!   message-passing fast path), at most [`MAX_HANDOFF_STREAK`] times in a
//!   row; then the queue gets a turn, and the slot's task waits in the
//!   queue like any other.
//! - **The spill list's cadence.** Tasks a user's policy refused (its
//!   bounds smaller than the pool's) wait in a spill list; every
//!   [`SPILL_EVERY`]-th queue turn serves the spill list first, and so does
//!   every turn the policy is empty, so that no spilled task waits forever.

/// How many tasks in a row may run from the hand-off slot before the
/// queue gets a turn. The slot skips the fair queue to make
/// request/response pairs fast; three in a row keeps a chain of messages
/// quick and still lets the queue in every fourth poll, so the slot cannot
/// be used to jump the fair queue for long. (tokio's LIFO slot has the same
/// kind of cap.)
pub(crate) const MAX_HANDOFF_STREAK: u32 = 3;

/// One queue turn in this many serves the spill list first: spilled tasks
/// get at least 1.6 % of the worker's turns, so none waits forever, and
/// the policy keeps the other 98 % to order. 61 is prime, so that the
/// spill turn does not fall in step with a periodic pattern of the policy
/// (a round over a power-of-two number of tenants, the hand-off streak of
/// four) and take the same tenant's turn every time.
pub(crate) const SPILL_EVERY: u64 = 61;

/// What the worker serves next from its queue, once the hand-off slot has
/// passed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum QueueTurn {
    /// The oldest task of the spill list.
    Spill,
    /// The policy's pick (which may be nothing: then the worker idles).
    Policy,
}

/// The turn state of one worker slot (carried over to a thread that takes
/// a stuck slot over, with the rest of the slot's core).
#[derive(Debug, Default)]
pub(crate) struct Turns {
    /// Tasks run from the hand-off slot in a row.
    streak: u32,
    /// Queue turns so far.
    queue_turns: u64,
}

impl Turns {
    /// The hand-off slot holds a task: whether it runs now (else it goes to
    /// the queue, and the caller asks [`queue`](Self::queue)).
    #[inline]
    pub(crate) fn handoff(&mut self) -> bool {
        if self.streak < MAX_HANDOFF_STREAK {
            self.streak += 1;
            true
        } else {
            false
        }
    }

    /// The queue's turn: the spill list first when it holds a task and its
    /// cadence says so, or when the policy holds nothing. `policy_empty`
    /// is asked only when the spill list holds a task (a call into the
    /// policy per poll would cost the common case, an empty spill list).
    #[inline]
    pub(crate) fn queue(
        &mut self,
        spilled: bool,
        policy_empty: impl FnOnce() -> bool,
    ) -> QueueTurn {
        self.streak = 0;
        self.queue_turns = self.queue_turns.wrapping_add(1);
        if spilled && (self.queue_turns.is_multiple_of(SPILL_EVERY) || policy_empty()) {
            QueueTurn::Spill
        } else {
            QueueTurn::Policy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One letter per turn a worker takes: `H` the hand-off slot, `S` the
    /// spill list, `P` the policy.
    fn letter_of(turn: QueueTurn) -> char {
        match turn {
            QueueTurn::Spill => 'S',
            QueueTurn::Policy => 'P',
        }
    }

    /// Replays `steps`, each `(handoff, spilled, policy_empty)`: what the
    /// worker holds at that turn; returns the turns taken, as letters.
    fn run(steps: impl IntoIterator<Item = (bool, bool, bool)>) -> String {
        let mut turns = Turns::default();
        steps
            .into_iter()
            .map(|(handoff, spilled, policy_empty)| {
                if handoff && turns.handoff() {
                    'H'
                } else {
                    // A hand-off task that lost its turn is queued first.
                    letter_of(turns.queue(spilled, || policy_empty && !handoff))
                }
            })
            .collect()
    }

    fn check(steps: impl IntoIterator<Item = (bool, bool, bool)>, expect: &str) {
        assert_eq!(run(steps), expect);
    }

    #[test]
    fn a_chain_of_messages_lets_the_queue_in_every_fourth_turn() {
        // Every poll wakes a task into the slot (a ping-pong chain).
        check(
            std::iter::repeat_n((true, false, false), 12),
            "HHHPHHHPHHHP",
        );
        // The chain wins again as soon as the queue had its turn.
        check(
            [(true, false, false); 3]
                .into_iter()
                .chain([(false, false, false)])
                .chain([(true, false, false); 4]),
            "HHHPHHHP",
        );
    }

    #[test]
    fn the_slot_alone_still_hands_its_task_to_the_queue_after_the_cap() {
        // Nothing queued but the chain: the fourth task goes through the
        // (then non-empty) policy, never the spill list.
        check(std::iter::repeat_n((true, true, true), 8), "HHHPHHHP");
    }

    #[test]
    fn the_spill_list_gets_one_queue_turn_in_61() {
        let turns = run(std::iter::repeat_n(
            (false, true, false),
            3 * SPILL_EVERY as usize,
        ));
        let spills: Vec<usize> = turns.match_indices('S').map(|(i, _)| i).collect();
        let every = SPILL_EVERY as usize;
        assert_eq!(spills, [every - 1, 2 * every - 1, 3 * every - 1]);
    }

    #[test]
    fn an_empty_policy_serves_the_spill_list_at_once() {
        check([(false, true, true); 5], "SSSSS");
        check([(false, false, true); 2], "PP");
    }

    #[test]
    fn hand_off_turns_do_not_count_as_queue_turns() {
        // Three hand-offs per queue turn: the spill cadence counts queue
        // turns only, so the spill comes at the 61st queue turn.
        let steps = std::iter::repeat_n(
            [
                (true, true, false),
                (true, true, false),
                (true, true, false),
                (true, true, false),
            ],
            SPILL_EVERY as usize,
        )
        .flatten();
        let turns = run(steps);
        assert_eq!(turns.matches('S').count(), 1);
        assert_eq!(turns.matches('P').count(), SPILL_EVERY as usize - 1);
        assert!(turns.ends_with("HHHS"), "{turns}");
    }
}
