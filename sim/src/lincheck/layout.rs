//! How a partition's operations are laid out for the search: the call and return entries
//! in time order, each operation's bit in the linearized set, and the fences of client order.

use super::history::Operation;
use super::search::RETURN;
use std::collections::BTreeMap;

/// For each operation, the unknown-outcome operations its client invoked since its last
/// operation with a known outcome: those must take effect before it, or never. As a
/// table: operation `i`'s are `fences[at[i]..at[i + 1]]`.
pub(super) fn client_fences<I, O>(ops: &[&Operation<I, O>]) -> (Vec<u32>, Vec<u32>) {
    let mut by_client: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_client.entry(op.client).or_default().push(i as u32);
    }
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); ops.len()];
    for (_, mut mine) in by_client {
        mine.sort_by_key(|&i| (ops[i as usize].call, i));
        let mut pending = Vec::new();
        for i in mine {
            lists[i as usize].clone_from(&pending);
            if ops[i as usize].outcome.output().is_some() {
                pending.clear();
            } else {
                pending.push(i);
            }
        }
    }
    let mut at = Vec::with_capacity(ops.len() + 1);
    let mut fences = Vec::new();
    at.push(0);
    for list in lists {
        fences.extend(list);
        at.push(fences.len() as u32);
    }
    (at, fences)
}

/// Numbers each operation's bit: those with a known outcome in one set, the others in a
/// second, each in call order. Returns the numbers and the two sets' sizes.
pub(super) fn number_bits<I, O>(ops: &[&Operation<I, O>]) -> (Vec<u32>, usize, usize) {
    let mut order: Vec<(u64, u32)> = ops.iter().enumerate().map(|(i, op)| (op.call, i as u32)).collect();
    order.sort_unstable();
    let mut bit = vec![0; ops.len()];
    let (mut known, mut unknown) = (0u32, 0u32);
    for (_, i) in order {
        let counter = if ops[i as usize].outcome.output().is_some() { &mut known } else { &mut unknown };
        bit[i as usize] = *counter;
        *counter += 1;
    }
    (bit, known as usize, unknown as usize)
}

/// The order of entries: by time, and at equal times calls before returns, so operations
/// whose intervals touch are concurrent. Ties are broken by op index, for determinism.
pub(super) fn time_ordered_entries<I, O>(ops: &[&Operation<I, O>]) -> Vec<u32> {
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, false, i as u32));
        if let Some(at) = op.outcome.return_time() {
            events.push((at, true, i as u32 | RETURN));
        }
    }
    events.sort_unstable();
    events.into_iter().map(|(_, _, entry)| entry).collect()
}
