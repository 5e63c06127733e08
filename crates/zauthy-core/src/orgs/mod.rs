//! Organizations (tenants) and their API keys.

mod service;
mod settings;
pub mod store;
mod types;

pub use service::{CreatedApiKey, CreatedOrganization, NewOrganization};
pub use settings::{OrgSettingsUpdate, parse_web_url};
pub use types::{ApiKey, KeyEnvironment, OrgSettings, Organization, Plan};

pub(crate) use service::clean_name as clean_name_pub;
