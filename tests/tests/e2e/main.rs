//! The end-to-end tests, one binary (one link) with a module per subject: the service over a
//! real socket, in this process ([`e2e::Service`]) or as the binary's own processes
//! ([`e2e::process::Instance`]). What several modules need is in the `e2e` library, once.
//!
//! Test code: a panic is a failed test, and what a test measured goes to stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod accounts;
mod architecture;
mod auth;
mod crash;
mod durability;
mod exports;
mod files;
mod instances;
mod metrics;
mod notifications;
mod object_store;
mod outage;
mod semantics;
mod shutdown;
mod slow_clients;
mod spec;
mod streams;
mod takeover;
mod users;
mod webhook_deliveries;
mod webhooks;
