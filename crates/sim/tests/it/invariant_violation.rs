//! A failed invariant stops the run with an error that names it.

use crate::common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use peergroup_base::Instant;
use peergroup_sim::SimError;
use peergroup_sim::testproto::Command;

#[test]
fn violated_invariant_stops_the_run_and_names_itself() {
    let (mut sim, nodes, _) = common::flood_sim(51, 100, 4, common::lan());
    sim.add_invariant(
        "conservation",
        1,
        Box::new(|view| {
            let s = view.stats();
            if s.messages_delivered + s.dropped() > s.messages_sent + s.duplicated {
                return Err("more copies arrived than were sent".into());
            }
            Ok(())
        }),
    );
    sim.add_invariant(
        "rumor 7 is secret",
        1,
        Box::new(|view| match view.live_nodes().find(|(_, n)| n.has_seen(7)) {
            Some((i, _)) => Err(format!("{i} knows rumor 7")),
            None => Ok(()),
        }),
    );
    sim.command(nodes[0], Command::Publish(6));
    sim.schedule_command(Instant::from_micros(2_000_000), nodes[5], Command::Publish(7));
    let err = sim.run_for(Duration::from_secs(10)).expect_err("the invariant fails");

    assert!(err.is_invariant_violated());
    assert_eq!(err.invariant_name(), Some("rumor 7 is secret"));
    let SimError::InvariantViolated { at, message, .. } = &err else { unreachable!() };
    assert_eq!(at.as_micros(), 2_000_000, "caught on the step that published it");
    assert_eq!(message, "n5 knows rumor 7");
    assert!(err.to_string().contains("rumor 7 is secret"), "{err}");
    assert_eq!(sim.now().as_micros(), 2_000_000, "the clock stopped there");

    // The simulator stays stopped.
    assert!(!sim.step());
    assert_eq!(sim.run_for(Duration::from_secs(1)), Err(err.clone()));
    assert_eq!(sim.run_until_idle(10), Err(err));
    assert!(sim.pending_events() > 0, "work was left undone");
}

#[test]
fn invariants_run_every_n_steps_and_pass_silently() {
    let (mut sim, nodes, _) = common::flood_sim(52, 50, 4, common::lan());
    let calls = Rc::new(Cell::new(0u64));
    let off_period = Rc::new(Cell::new(0u64));
    let (counter, off) = (calls.clone(), off_period.clone());
    sim.add_invariant(
        "counted",
        10,
        Box::new(move |view| {
            counter.set(counter.get() + 1);
            if view.stats().steps % 10 != 0 {
                off.set(off.get() + 1);
            }
            Ok(())
        }),
    );
    sim.command(nodes[0], Command::Publish(1));
    assert!(sim.run_until_idle(1_000_000).expect("holds"));
    assert_eq!(calls.get(), sim.stats().steps / 10);
    assert_eq!(off_period.get(), 0, "only on every 10th step");
    sim.check_invariants().expect("still holds");
    assert_eq!(calls.get(), sim.stats().steps / 10 + 1, "check_invariants runs them all now");
}
