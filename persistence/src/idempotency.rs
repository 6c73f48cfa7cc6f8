//! Idempotency keys in SQL: [`SqlIdempotencyStore`], and [`complete`], which the money
//! movement calls inside its own transaction to record the outcome.

use crate::{
    Database,
    error::{Error, Result, in_storage, stored},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{
    accounts::{AccountId, Outcome, TransactionId, TransferId},
    idempotency::{
        self, Begin, CLAIM_LEASE, Claim, Decision, IdempotencyStore, IdempotentRequest,
        KEY_LIFETIME, KeyRecord, KeyState,
    },
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    SqlErr,
};
use sha2::{Digest, Sha256};

/// The `idempotency_keys` table.
pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    /// One key: `in_flight` while its request executes, `done` with the outcome after.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub key: String,
        pub request_hash: String,
        pub state: String,
        pub lease_until: DateTimeUtc,
        pub outcome: Option<String>,
        pub account_id: Option<i64>,
        pub result_id: Option<i64>,
        pub balance: Option<i64>,
        pub required: Option<i64>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Keys, Model};

const IN_FLIGHT: &str = "in_flight";
const DONE: &str = "done";

/// How often a release that met an outage is tried again.
const RELEASE_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// A claim an outage kept from being settled: by its record, or, when the outage cut off the
/// claim's own commit, by what it was made with.
enum Unsettled {
    Record(i64),
    Claimed {
        owner: i64,
        key: String,
        lease_until: DateTime<Utc>,
    },
}

/// Idempotency keys stored in the service's database.
#[derive(Clone)]
pub struct SqlIdempotencyStore {
    db: Database,
}

impl SqlIdempotencyStore {
    /// A store over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Deletes the claim `which` while it is still in flight.
    async fn delete_claim(&self, which: &Unsettled) -> Result<()> {
        let release = Keys::delete_many().filter(Column::State.eq(IN_FLIGHT));
        let release = match which {
            Unsettled::Record(record) => release.filter(Column::Id.eq(*record)),
            // Its own lease, or an earlier one; a later request's claim has a later lease.
            Unsettled::Claimed {
                owner,
                key,
                lease_until,
            } => release
                .filter(Column::OwnerId.eq(*owner))
                .filter(Column::Key.eq(key.as_str()))
                .filter(Column::LeaseUntil.lte(*lease_until + chrono::TimeDelta::milliseconds(1))),
        };
        let txn = self.db.begin_write().await?;
        release.exec(txn.conn()?).await?;
        txn.commit().await
    }

    /// Retries the release of claim `which` through an outage. It gives up at half the lease:
    /// the claim was made moments before its release failed, so it is still this request's,
    /// never a later request's that took the key over once the lease ran out.
    /// Runs in a task of its own, which the request that met the outage does not wait for.
    fn release_when_back(&self, which: Unsettled) {
        let store = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + CLAIM_LEASE / 2;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(RELEASE_RETRY).await;
                match store.delete_claim(&which).await {
                    Err(err) if err.outage().is_some() => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot release an idempotency key");
                        return;
                    }
                    Ok(()) => return,
                }
            }
        });
    }

    /// One attempt at [`IdempotencyStore::begin`]: the key's record read under a lock, the
    /// domain's decision on it ([`idempotency::decide`]) written as it says.
    async fn try_begin(&self, request: &IdempotentRequest) -> Result<Begin<Outcome>> {
        let fingerprint = request_hash(&request.request);
        let txn = self.db.begin_write().await?;
        let query = self.db.locking(
            Keys::find()
                .filter(Column::OwnerId.eq(request.owner.get()))
                .filter(Column::Key.eq(request.key.as_str())),
        );
        let found = query.one(txn.conn()?).await?;
        let record = found.as_ref().map(key_record).transpose()?;
        let now = Utc::now();
        let decision = idempotency::decide(record, &fingerprint, now);
        let lease = match decision {
            Decision::Claim { lease_until, .. } | Decision::TakeOver { lease_until } => {
                Some(lease_until)
            }
            Decision::Replay(_) | Decision::Mismatch | Decision::InFlight => None,
        };
        let begin = match decision {
            Decision::Replay(outcome) => Begin::Replay(outcome),
            Decision::Mismatch => Begin::Mismatch,
            Decision::InFlight => Begin::InFlight,
            Decision::TakeOver { lease_until } => {
                let found = found.ok_or_else(|| Error::Corrupt {
                    what: "idempotency key",
                    reason: "a takeover of no record".to_owned(),
                })?;
                let mut taken: ActiveModel = found.into();
                taken.lease_until = Set(lease_until);
                let taken = taken.update(txn.conn()?).await?;
                Begin::Execute(Claim { record: taken.id })
            }
            Decision::Claim {
                lease_until,
                replaces_expired,
            } => {
                if let Some(expired) = found.filter(|_| replaces_expired) {
                    Keys::delete_by_id(expired.id).exec(txn.conn()?).await?;
                }
                let record = ActiveModel {
                    owner_id: Set(request.owner.get()),
                    key: Set(request.key.as_str().to_owned()),
                    request_hash: Set(fingerprint),
                    state: Set(IN_FLIGHT.to_owned()),
                    lease_until: Set(lease_until),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(txn.conn()?)
                .await?;
                Begin::Execute(Claim { record: record.id })
            }
        };
        if let Err(err) = txn.commit().await {
            // An outage can cut the connection after the server committed the claim but before
            // it said so: nobody would then hold it, and the client's retries would be refused
            // as in flight for the whole lease. Release it (if it is there) once the database
            // is back.
            if let (Some(_), Some(lease_until)) = (err.outage(), lease) {
                self.release_when_back(Unsettled::Claimed {
                    owner: request.owner.get(),
                    key: request.key.as_str().to_owned(),
                    lease_until,
                });
            }
            return Err(err);
        }
        Ok(begin)
    }
}

#[async_trait]
impl IdempotencyStore<Outcome> for SqlIdempotencyStore {
    async fn begin(&self, request: &IdempotentRequest) -> domain::Result<Begin<Outcome>> {
        in_storage(async {
            match self.try_begin(request).await {
                // PostgreSQL cannot lock a row that is not there yet: two first requests with one
                // key both insert, and the loser sees the winner's row when it looks again.
                Err(Error::Db(err))
                    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    self.try_begin(request).await
                }
                other => other,
            }
        })
        .await
    }

    async fn release(&self, claim: Claim) -> domain::Result<()> {
        match self.delete_claim(&Unsettled::Record(claim.record)).await {
            Err(err) if err.outage().is_some() => {
                // The database went away between the claim and its release (most often, the
                // release is of a request the outage itself failed). Keep trying meanwhile, so
                // that the client's retry finds its key free moments after the database is
                // back, rather than refused as in flight until the lease runs out.
                self.release_when_back(Unsettled::Record(claim.record));
                Err(err.into())
            }
            other => Ok(other?),
        }
    }

    async fn complete(&self, claim: Claim, outcome: &Outcome) -> domain::Result<()> {
        in_storage(async {
            let txn = self.db.begin_write().await?;
            complete(txn.conn()?, &claim, outcome).await?;
            txn.commit().await
        })
        .await
    }

    async fn purge_expired(&self) -> domain::Result<u64> {
        in_storage(async {
            let cutoff: DateTime<Utc> = Utc::now() - KEY_LIFETIME;
            let purge = Keys::delete_many().filter(Column::CreatedAt.lt(cutoff));
            let txn = self.db.begin_write().await?;
            let purged = purge.exec(txn.conn()?).await?.rows_affected;
            txn.commit().await?;
            Ok(purged)
        })
        .await
    }
}

/// Records `outcome` under `claim`, inside the transaction that produced it. Fails with
/// [`domain::Error::IdempotencyKeyInFlight`] when the claim was taken over meanwhile (its lease
/// ran out), so that the transaction rolls back and the money moves once.
pub(crate) async fn complete(
    txn: &DatabaseTransaction,
    claim: &Claim,
    outcome: &Outcome,
) -> Result<()> {
    let mut done = Keys::update_many()
        .col_expr(Column::State, DONE.into())
        .filter(Column::Id.eq(claim.record))
        .filter(Column::State.eq(IN_FLIGHT));
    let (kind, account, result, balance, required) = match outcome {
        Outcome::Transaction(account, id) => (
            "transaction",
            Some(account.get()),
            Some(id.get()),
            None,
            None,
        ),
        Outcome::Transfer(id) => ("transfer", None, Some(id.get()), None, None),
        Outcome::InsufficientFunds { balance, required } => (
            "insufficient_funds",
            None,
            None,
            Some(*balance),
            Some(*required),
        ),
    };
    done = done
        .col_expr(Column::Outcome, kind.into())
        .col_expr(Column::AccountId, account.into())
        .col_expr(Column::ResultId, result.into())
        .col_expr(Column::Balance, balance.into())
        .col_expr(Column::Required, required.into());
    if done.exec(txn).await?.rows_affected == 0 {
        return Err(domain::Error::IdempotencyKeyInFlight.into());
    }
    Ok(())
}

/// A stored key as the domain's [`KeyRecord`].
fn key_record(record: &Model) -> Result<KeyRecord<Outcome>> {
    let state = if record.state == DONE {
        KeyState::Done(outcome(record)?)
    } else {
        KeyState::InFlight {
            lease_until: record.lease_until,
        }
    };
    Ok(KeyRecord {
        fingerprint: record.request_hash.clone(),
        created_at: record.created_at,
        state,
    })
}

fn outcome(record: &Model) -> Result<Outcome> {
    let corrupt = |what: &str| Error::Corrupt {
        what: "idempotency outcome",
        reason: what.to_owned(),
    };
    let id = |value: Option<i64>| value.ok_or_else(|| corrupt("missing id"));
    match record.outcome.as_deref() {
        Some("transaction") => Ok(Outcome::Transaction(
            stored("account id", AccountId::parse(id(record.account_id)?))?,
            stored(
                "transaction id",
                TransactionId::parse(id(record.result_id)?),
            )?,
        )),
        Some("transfer") => Ok(Outcome::Transfer(stored(
            "transfer id",
            TransferId::parse(id(record.result_id)?),
        )?)),
        Some("insufficient_funds") => Ok(Outcome::InsufficientFunds {
            balance: record.balance.ok_or_else(|| corrupt("missing balance"))?,
            required: record.required.ok_or_else(|| corrupt("missing required"))?,
        }),
        other => Err(corrupt(&format!("unknown outcome {other:?}"))),
    }
}

fn request_hash(request: &str) -> String {
    Sha256::digest(request.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
