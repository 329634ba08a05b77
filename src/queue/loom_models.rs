//! loom models of the queue's atomic protocols.
