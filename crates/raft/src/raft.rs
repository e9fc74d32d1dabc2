//! The Raft protocol proper: roles, elections, replication, reads,
//! membership. Driven by `RawNode`.
#![allow(unused)]

use crate::log::RaftLog;
use crate::message::*;
use crate::progress::{ProgressInfo, ProgressTracker};
use crate::{Config, Error, ProposalId, Storage};
use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};

pub(crate) struct Raft<S: Storage> {
    pub id: NodeId,
    pub term: Term,
    pub vote: Option<NodeId>,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub log: RaftLog<S>,
    pub prs: ProgressTracker,
    pub lead_transferee: Option<NodeId>,
    pub read_states: Vec<ReadState>,
    pub msgs: Vec<Message>,
}

impl<S: Storage> Raft<S> {
    pub fn new(_config: Config, _storage: S) -> Result<Self, Error> {
        todo!()
    }
    pub fn hard_state(&self) -> HardState {
        todo!()
    }
    pub fn soft_state(&self) -> SoftState {
        todo!()
    }
    pub fn tick(&mut self) {
        todo!()
    }
    pub fn step(&mut self, _m: Message) -> Result<(), Error> {
        todo!()
    }
    pub fn campaign_now(&mut self) {
        todo!()
    }
    pub fn propose(&mut self, _data: Bytes) -> Result<ProposalId, Error> {
        todo!()
    }
    pub fn propose_conf_change(&mut self, _cc: ConfChange) -> Result<ProposalId, Error> {
        todo!()
    }
    pub fn apply_conf_change(&mut self, _cc: &ConfChange) -> Result<ConfState, Error> {
        todo!()
    }
    pub fn read_index(&mut self, _ctx: Bytes) -> Result<(), Error> {
        todo!()
    }
    pub fn transfer_leader(&mut self, _to: NodeId) {
        todo!()
    }
    pub fn report_snapshot(&mut self, _to: NodeId, _ok: bool) {
        todo!()
    }
    pub fn report_unreachable(&mut self, _to: NodeId) {
        todo!()
    }
    pub fn has_pending_work(&self) -> bool {
        todo!()
    }
    pub fn flush(&mut self) {
        todo!()
    }
    pub fn advance(&mut self, _rd: &crate::Ready) {
        todo!()
    }
    pub fn progress_info(&self, _id: NodeId) -> Option<ProgressInfo> {
        todo!()
    }
}
