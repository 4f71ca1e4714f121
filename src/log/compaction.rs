//! The log's start and its configurations: compaction up to a snapshot point (a local
//! snapshot, or one installed from the leader) and the configuration in force at each
//! point (the one at the start, then each configuration entry's).

use super::*;

impl RaftLog {
    /// Sets the configuration in force at the snapshot point (at recovery: the bootstrap
    /// configuration, or the latest snapshot's).
    pub fn set_base_config(&mut self, config: Configuration) {
        self.base_config = config;
    }

    /// The configuration in force: the last configuration entry's, or the one at the
    /// snapshot point.
    pub fn config(&self) -> &Configuration {
        self.configs.last().map_or(&self.base_config, |(_, c)| c)
    }

    /// Where the configuration in force comes from: its entry's index (the snapshot point's
    /// for the one in force there).
    pub fn config_index(&self) -> LogIndex {
        self.configs.last().map_or(self.snapshot.index, |(i, _)| *i)
    }

    /// The configuration in force at `index` (the one at the snapshot point for any index up
    /// to it).
    pub fn config_at(&self, index: LogIndex) -> &Configuration {
        let k = self.configs.partition_point(|(i, _)| *i <= index);
        k.checked_sub(1).map_or(&self.base_config, |k| &self.configs[k].1)
    }

    /// Compacts the log up to `index`, which the state machine has applied (a snapshot of
    /// it now stands for every entry up to there): the log then starts after `index`, and
    /// memory is released in whole chunks. Refuses an index beyond what was applied, or
    /// one the log does not hold, and changes nothing for one at or before the current
    /// snapshot point.
    pub fn compact_to(&mut self, index: LogIndex) -> Result<(), String> {
        if index <= self.snapshot.index {
            return Ok(());
        }
        if index > self.applied {
            return Err(format!("cannot compact to {index}: only {} is applied", self.applied));
        }
        let term = self.term(index).ok_or_else(|| format!("cannot compact to {index}: not in the log"))?;
        self.drop_prefix_through(SnapshotPoint { index, term });
        Ok(())
    }

    /// Drops every entry up to `point`, which the log holds: the log then starts after it.
    fn drop_prefix_through(&mut self, point: SnapshotPoint) {
        let index = point.index;
        self.base_config = self.config_at(index).clone();
        self.configs.retain(|(i, _)| *i > index);
        self.entries.drop_through(index);
        // The run that holds the new first entry starts there; runs before it go.
        let first = index.next();
        let keep_from = self.terms.partition_point(|&(start, _)| start <= first).saturating_sub(1);
        self.terms.drain(..keep_from);
        if index == self.last {
            self.terms.clear();
        } else if let Some(run) = self.terms.first_mut() {
            run.0 = first;
        }
        self.snapshot = point;
    }

    /// Makes a snapshot standing for every entry up to `point` the log's start (one
    /// installed from the leader, or found on disk at recovery): if the log holds `point`
    /// with its term, the entries after it are kept (they follow the snapshot's last entry);
    /// otherwise every entry goes. Everything up to `point` counts as committed, durable and
    /// applied: the driver restores the state machine from the snapshot before it applies
    /// anything after it. A point at or before the current start changes nothing.
    pub fn install_snapshot(&mut self, point: SnapshotPoint, config: Configuration) {
        if point.index <= self.snapshot.index {
            return;
        }
        if self.matches(point.index, point.term) {
            self.drop_prefix_through(point);
            self.base_config = config;
            self.durable = self.durable.max(point.index);
            self.unwritten_from = self.unwritten_from.max(point.index.next());
        } else {
            // Every entry goes, written or not: whatever comes next after the snapshot is
            // new, and none of it is durable (a stale cursor past the snapshot would skip
            // writing the next entries, and acknowledge them as durable).
            self.entries = EntryStore::default();
            self.terms.clear();
            self.configs.clear();
            self.base_config = config;
            self.snapshot = point;
            self.last = point.index;
            self.durable = point.index;
            self.unwritten_from = point.index.next();
        }
        self.committed = self.committed.max(point.index);
        self.apply_handed_out = self.apply_handed_out.max(point.index);
        self.applied = self.applied.max(point.index);
        self.apply_read_failed = false;
        self.uncommitted_bytes = self.bytes_in(self.committed.next(), self.last);
    }
}
