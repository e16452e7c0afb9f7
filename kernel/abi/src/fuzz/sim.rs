//! A case run against the model alone, as if the kernel did exactly what
//! it owes: the grader uses it to say what a case's call `i` was and what
//! the case held then, and the tests use it to check that the generator
//! never names a handle another CPU could hold.

use super::Call;
use super::case::{Case, Paths};
use super::model::{self, Concrete, Handles, Labels, Layout, Outcome};

/// A layout for simulation: addresses shaped like the real ones.
pub const LAYOUT: Layout = {
    const fn labels(base: u64) -> Labels {
        Labels {
            ret: base,
            trap: base + 1,
            alt: base + 0x10,
            alt_trap: base + 0x11,
            stack_fault: base + 0x20,
        }
    }
    Layout {
        good: 0x4001_0000,
        args: 0x4001_1000,
        read_only: 0x4000_8000,
        labels: [
            labels(0x4000_1000),
            // As the fuzzer's: SYSEXIT returns to SharedUserData's `ret`.
            Labels {
                ret: model::SYSEXIT_RETURN,
                stack_fault: model::SYSEXIT_RETURN,
                ..labels(0x4000_2000)
            },
            labels(0x4000_3000),
        ],
        cpu: 0,
    }
};

/// One simulated call.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub index: u64,
    pub call: Call,
    pub concrete: Concrete,
    pub outcome: Outcome,
    /// The handles the case held before the call.
    pub held: Handles,
}

/// The calls of case `seed` on `paths`, in order, until the case ends.
pub fn steps(seed: u64, paths: Paths) -> impl Iterator<Item = Step> {
    let case = Case::new(seed);
    let mut handles = Handles::default();
    let mut index = 0;
    // Handle values the simulated kernel hands out: slot k, generation 0.
    let mut next_slot = 1u64;
    core::iter::from_fn(move || {
        if index >= case.len && handles.live().is_empty() {
            return None;
        }
        let call = case.call(index, paths);
        let concrete = model::resolve(&call, &handles, &LAYOUT);
        let outcome = model::predict(&call, &concrete, &handles, &LAYOUT);
        let step = Step {
            index,
            call,
            concrete,
            outcome,
            held: handles,
        };
        let new = matches!(outcome.effect, model::Effect::NewHandle { .. }).then(|| {
            next_slot += 1;
            next_slot << 2
        });
        handles.apply(&outcome.effect, new, index);
        index += 1;
        Some(step)
    })
}
