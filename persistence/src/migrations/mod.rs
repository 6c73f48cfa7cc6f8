//! Versioned schema migrations, applied at start-up. Released migrations are never edited:
//! a change to the schema is a new migration.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m0001_users;
mod m0002_admins;
mod m0003_accounts;
mod m0004_notifications;
mod m0005_files;
mod m0006_sqlite_ledger_triggers;
mod m0007_instances;
mod m0008_login_limits;
mod m0009_notification_events;
mod m0010_file_uploads;
mod m0011_webhooks;
mod m0012_webhook_deliveries;

/// Every migration, in order.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_users::Migration),
            Box::new(m0002_admins::Migration),
            Box::new(m0003_accounts::Migration),
            Box::new(m0004_notifications::Migration),
            Box::new(m0005_files::Migration),
            Box::new(m0006_sqlite_ledger_triggers::Migration),
            Box::new(m0007_instances::Migration),
            Box::new(m0008_login_limits::Migration),
            Box::new(m0009_notification_events::Migration),
            Box::new(m0010_file_uploads::Migration),
            Box::new(m0011_webhooks::Migration),
            Box::new(m0012_webhook_deliveries::Migration),
        ]
    }
}
