//! Everything that talks to (or stands for) the ApsaraDB for MongoDB OpenAPI.

pub mod client;
pub mod credentials;
pub mod dbs;
pub mod endpoint;
pub mod error;
pub mod fleet;
pub mod model;
pub mod query;
pub mod sign;
