//! One file per protocol, each a [`crate::Probe`].

pub mod amqp;
pub mod http;
pub mod line;
pub mod tcp;
