//! Outbound network for jobs: one policy for every executor. A job's
//! `settings.job` asks for connections ([`policy::Request`]), the operator
//! and the tenant's quota bound them ([`policy::Bound`]), and every
//! connection is judged by the name asked for and the address the host
//! resolved it to ([`policy::Policy::check`]); [`address`] says which
//! addresses are not public.

pub mod address;
pub mod policy;
