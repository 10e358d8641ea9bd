//! Outbound network for jobs: one policy for every executor. A job's
//! `settings.job` asks for connections ([`policy::Request`]), the operator
//! and the tenant's quota bound them ([`policy::Bound`]), and every
//! connection is judged by the name asked for and the address the host
//! resolved it to ([`policy::Policy::check`]); [`address`] says which
//! addresses are not public, and [`connect`] is the host's side of a
//! connection: it resolves once and connects to exactly what it allowed;
//! [`forward`] is the proxy a native run's network namespace reaches the
//! host through; [`tls`] is what the host trusts when it speaks TLS for a
//! guest; [`dns`] asks the operator's DNS server for jobs' names, and
//! [`answer`] answers a native job's own DNS questions.

pub mod address;
pub mod answer;
pub mod connect;
pub mod dns;
pub mod forward;
pub mod policy;
pub mod tls;
