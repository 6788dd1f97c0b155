//! Counting what a receiver missed: each sending scheduler instance numbers its
//! relayed events 0, 1, 2, … (`wire.rs`); a payload whose first number is beyond the
//! one expected from that node means the events in between never arrived — dropped
//! by the sender's full queue, lost in a failed publish, sent while this node's relay
//! was reconnecting.

use std::collections::HashMap;

/// The next number expected from each node (pure: no clock, no I/O).
#[derive(Debug, Default)]
pub(super) struct Gaps {
    nodes: HashMap<String, Expected>,
}

#[derive(Debug)]
struct Expected {
    /// The sending scheduler instance: a node started again numbers from 0.
    inst: String,
    next: u64,
}

impl Gaps {
    /// Notes a payload of `count` events numbered from `seq` by `node`'s instance
    /// `inst`; how many events of that node were missed before it (`None`: none, or
    /// the first payload seen from this instance, before which nothing is known).
    pub(super) fn observe(&mut self, node: &str, inst: &str, seq: u64, count: u64) -> Option<u64> {
        let end = seq.saturating_add(count);
        match self.nodes.get_mut(node) {
            Some(expected) if expected.inst == inst => {
                let missed = seq.checked_sub(expected.next).filter(|&n| n > 0);
                expected.next = expected.next.max(end);
                missed
            }
            _ => {
                let expected = Expected {
                    inst: inst.to_owned(),
                    next: end,
                };
                self.nodes.insert(node.to_owned(), expected);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Gaps;

    #[test]
    fn a_gap_in_the_numbers_is_counted_exactly() {
        let mut gaps = Gaps::default();
        assert_eq!(
            gaps.observe("a", "1", 40, 5),
            None,
            "first seen: nothing known before"
        );
        assert_eq!(gaps.observe("a", "1", 45, 3), None, "in sequence");
        assert_eq!(gaps.observe("a", "1", 60, 2), Some(12), "48..60 missed");
        assert_eq!(
            gaps.observe("b", "7", 0, 1),
            None,
            "nodes are counted apart"
        );
        assert_eq!(gaps.observe("a", "1", 62, 1), None);
        assert_eq!(
            gaps.observe("a", "1", 50, 1),
            None,
            "a late duplicate is no gap"
        );
        assert_eq!(
            gaps.observe("a", "1", 63, 1),
            None,
            "and does not move the count back"
        );
    }

    #[test]
    fn a_restarted_node_starts_a_new_count() {
        let mut gaps = Gaps::default();
        assert_eq!(gaps.observe("a", "1", 0, 100), None);
        assert_eq!(
            gaps.observe("a", "2", 0, 1),
            None,
            "a new instance numbers from 0"
        );
        assert_eq!(gaps.observe("a", "2", 3, 1), Some(2));
    }
}
