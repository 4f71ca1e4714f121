//! Membership churn: the leader is asked to add a node (a new, empty one, that joins as a
//! learner and is promoted once caught up, or at once through a joint configuration), to
//! remove a voter (the leader itself among them) or a learner, while every other fault goes
//! on. Removed nodes keep running: they must not disrupt the cluster.

use super::*;
use quorate::membership::MembershipChange;

/// The most nodes a run ever boots (new ones take the next id).
const MAX_NODE_ID: u64 = 12;

impl Sim {
    pub(super) fn on_membership(&mut self) {
        if !self.faults_on {
            return;
        }
        let d = self.next_fault_delay(self.params.membership_every_ms);
        self.schedule(d, Event::Membership);
        self.fault_epoch += 1;
        let Some(leader) = self.leader() else { return };
        let config = self.nodes[&leader].core.as_ref().expect("running").configuration().clone();
        let voters: Vec<NodeId> = config.voters.iter().copied().collect();
        let next_id = self.max_node_id() + 1;
        let grow = (voters.len() as u64) < self.params.max_voters && next_id <= MAX_NODE_ID;
        let change = if let Some(&learner) =
            config.learners.iter().next().filter(|_| chance(&mut self.fault_rng, 0.2))
        {
            MembershipChange::RemoveNode { node_id: learner }
        } else if grow && (voters.len() <= 1 || chance(&mut self.fault_rng, 0.5)) {
            MembershipChange::AddNode { node_id: NodeId(next_id), address: format!("n{next_id}") }
        } else if voters.len() > 1 {
            MembershipChange::RemoveNode { node_id: voters[index(&mut self.fault_rng, voters.len())] }
        } else {
            return;
        };
        let through_learner = chance(&mut self.fault_rng, 0.7);
        self.stats.membership_proposed += 1;
        let core = self.nodes.get_mut(&leader).expect("the leader").core.as_mut().expect("running");
        match core.change_membership(change.clone(), through_learner) {
            Ok(index) => {
                let what = format!("{change:?}");
                self.trace.event(self.now, Some(leader.0), TraceEvent::Membership, &[index.0], || {
                    format!(
                        "proposes {what} at {index}{}",
                        if through_learner { " (a learner first)" } else { "" }
                    )
                });
                match change {
                    MembershipChange::AddNode { node_id, .. } => {
                        self.stats.nodes_added += 1;
                        if !self.nodes.contains_key(&node_id) {
                            // A new, empty node that joins the cluster it is told of.
                            let mut node_config = RaftConfig::new(node_id, voters.clone());
                            node_config.joining = true;
                            self.boot_node(node_config);
                        }
                    }
                    MembershipChange::RemoveNode { .. } => self.stats.nodes_removed += 1,
                }
                self.after_input(leader);
            }
            Err(_) => self.stats.membership_refused += 1,
        }
    }
}
