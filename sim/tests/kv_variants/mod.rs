//! The kv model with some of its prunings switched off, to show what each one gains.

use quorate_sim::lincheck::{
    DoomTest, History, Kv, KvInput, KvOutput, KvState, Model, Operation, Partition, Step,
};

/// [`Kv`], keeping every operation unless `droppable`, and with its doom test only if `doom`.
pub struct KvWith {
    pub droppable: bool,
    pub doom: bool,
}

impl Model for KvWith {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> KvState {
        Kv::default().init()
    }

    fn step(&self, state: &KvState, input: &KvInput, output: Option<&KvOutput>) -> Step<KvState> {
        Kv::default().step(state, input, output)
    }

    fn heap_bytes(&self, state: &KvState) -> usize {
        Kv::default().heap_bytes(state)
    }

    fn is_read_only(&self, input: &KvInput, output: Option<&KvOutput>) -> bool {
        Kv::default().is_read_only(input, output)
    }

    fn droppable(&self, ops: &[&Operation<KvInput, KvOutput>]) -> Vec<bool> {
        if self.droppable {
            Kv::default().droppable(ops)
        } else {
            vec![false; ops.len()]
        }
    }

    fn doom_test<'a>(&'a self, ops: &[&'a Operation<KvInput, KvOutput>]) -> Option<DoomTest<'a, KvState>> {
        if self.doom {
            doom_of_kv(ops)
        } else {
            None
        }
    }

    fn partition(&self, history: &History<KvInput, KvOutput>) -> Vec<Partition> {
        Kv::default().partition(history)
    }

    fn describe(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        Kv::default().describe(input, output)
    }
}

/// `Kv`'s doom test borrows the model for as long as the test lives: a static one lends it.
static KV: Kv = Kv { split: true };

fn doom_of_kv<'a>(ops: &[&'a Operation<KvInput, KvOutput>]) -> Option<DoomTest<'a, KvState>> {
    KV.doom_test(ops)
}
