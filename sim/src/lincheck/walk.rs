//! The walk over a node's candidates: the orders it tries them in, where it is, and what
//! trying one did.

/// The orders in which the search tries a node's candidates; it alternates between them
/// (see [`search`]). Neither changes whether a linearization is found, only how soon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// As [`Pass`] describes: the urgent known operation, the other known ones, then the
    /// unknown-outcome ones. Good when unknown outcomes mostly never took effect.
    KnownFirst,
    /// All candidates in call order (Wing & Gong's). Good when unknown outcomes took
    /// effect early, and were observed.
    CallOrder,
}

impl Order {
    pub(super) fn other(self) -> Order {
        match self {
            Order::KnownFirst => Order::CallOrder,
            Order::CallOrder => Order::KnownFirst,
        }
    }
}

/// The order in which a node's candidates are tried: the known operation whose return
/// comes first, then the other known operations in call order, then the unknown-outcome
/// ones in call order, then (if the first return is an unknown outcome's deadline) dropping
/// that one. The order changes which linearization is found first, never whether one is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    Urgent,
    Known,
    Unknown,
}

/// Where the walk over a node's candidates is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cursor {
    Urgent,
    Known(u32),
    Unknown(u32),
}

/// What trying one candidate did.
pub(super) enum Try {
    Entered,
    Rejected,
    NodeFails,
}
