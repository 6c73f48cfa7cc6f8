//! Accounts and their money: `/accounts`, `/accounts/{id}`, the ledger under
//! `/accounts/{id}/transactions`, and deposits and withdrawals.
//!
//! The money-moving POSTs take an optional `Idempotency-Key`: a repeat with the same key and
//! body answers the first response again (same status and body) with `Idempotent-Replayed:
//! true`, and moves no money.

use crate::responses::FromProblem;
use crate::state::State;
use crate::{
    auth::BearerAuth,
    body::{JsonBody, Members, RequestModel},
    json_types::{Nullable, Timestamp},
    paging::{next_page, requested},
    params::{Id, IdCursor, IdempotencyKeyParam, LastEventId, LimitParam},
    responses,
    responses::{reply, reply_keyed},
    streams::{EventKind, EventStream, reply_following},
    tags::Tag,
};
use domain::{
    accounts::{
        Account, AccountId, AccountService, Movement, Transaction, TransactionId, TransactionKind,
    },
    money::{Amount, Currency},
    users::UserId,
};
use poem::Request;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};

/// The accounts operations.
#[derive(Default)]
pub struct AccountsApi;

/// A transaction booked on a followed account, as its stream sends it: `id:` the transaction's
/// id, `event: transaction`, `data:` the transaction with the balance after it.
pub struct Booked(Transaction);

impl From<Transaction> for Booked {
    fn from(transaction: Transaction) -> Self {
        Self(transaction)
    }
}

impl EventKind for Booked {
    type Data = TransactionOut;
    const TITLE: &'static str = "TransactionEvent";
    const NAMES: &'static [&'static str] = &["transaction"];
    const DESCRIPTION: &'static str = "One `transaction` event per transaction booked on the \
        account, in the order they were booked: `id` is the transaction's id, `data` the \
        transaction, with the balance right after it in `balance_after`.";

    fn fields(&self) -> (String, &'static str, TransactionOut) {
        (
            self.0.id.to_string(),
            "transaction",
            TransactionOut::from(&self.0),
        )
    }
}

/// An account.
#[derive(Object, Debug)]
pub struct AccountOut {
    /// The account's id.
    id: i64,
    /// The id of the user who owns it.
    owner_id: i64,
    /// The balance in minor units (cents); never negative.
    balance: i64,
    /// ISO 4217 currency code.
    currency: String,
    /// When the account was opened.
    created_at: Timestamp,
}

impl From<&Account> for AccountOut {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.get(),
            owner_id: account.owner_id.get(),
            balance: account.balance,
            currency: account.currency.as_str().to_owned(),
            created_at: Timestamp(account.created_at),
        }
    }
}

/// An account to open.
#[derive(Object, Debug)]
pub struct AccountIn {
    /// The user who will own it: the caller themselves (any user for an admin).
    #[oai(validator(minimum(value = "1")))]
    owner_id: i64,
    /// ISO 4217 currency code; `EUR` when absent or null.
    #[oai(validator(pattern = "^[A-Z]{3}$"), nullable)]
    currency: Option<String>,
}

impl RequestModel for AccountIn {
    /// The owner and the currency.
    type Parsed = (UserId, Currency);

    fn read(members: &mut Members<'_>) -> Option<Self::Parsed> {
        let owner = members.required("owner_id", UserId::parse);
        let currency = members.optional("currency", Currency::parse);
        Some((owner?, currency?.unwrap_or(Currency::DEFAULT)))
    }
}

/// An amount to move.
#[derive(Object, Debug)]
pub struct AmountIn {
    /// Minor units (cents), 1 to 1 000 000 000 000.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    amount: i64,
}

impl RequestModel for AmountIn {
    type Parsed = Amount;

    fn read(members: &mut Members<'_>) -> Option<Amount> {
        members.required("amount", Amount::parse)
    }
}

/// What kind of movement a ledger row records: `deposit` (money paid in), `withdrawal` (paid
/// out), `transfer_in` (received from another account) or `transfer_out` (sent to another).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "TransactionKind", rename_all = "snake_case")]
pub enum Kind {
    /// Money paid in.
    Deposit,
    /// Money paid out.
    Withdrawal,
    /// Money received from another account.
    TransferIn,
    /// Money sent to another account.
    TransferOut,
}

impl From<TransactionKind> for Kind {
    fn from(kind: TransactionKind) -> Self {
        match kind {
            TransactionKind::Deposit => Self::Deposit,
            TransactionKind::Withdrawal => Self::Withdrawal,
            TransactionKind::TransferIn => Self::TransferIn,
            TransactionKind::TransferOut => Self::TransferOut,
        }
    }
}

/// One movement on an account (a ledger row).
#[derive(Object, Debug)]
pub struct TransactionOut {
    /// The row's id.
    id: i64,
    /// The account it moved money on.
    account_id: i64,
    // Described by its schema alone: a described `$ref` comes out as an `allOf`, which
    // openapi-python-client refuses.
    kind: Kind,
    /// How much, in minor units.
    amount: i64,
    /// The account's balance right after.
    balance_after: i64,
    /// When.
    created_at: Timestamp,
}

impl From<&Transaction> for TransactionOut {
    fn from(t: &Transaction) -> Self {
        Self {
            id: t.id.get(),
            account_id: t.account_id.get(),
            kind: t.kind.into(),
            amount: t.amount.get(),
            balance_after: t.balance_after,
            created_at: Timestamp(t.created_at),
        }
    }
}

/// A page of an account's ledger, newest first.
#[derive(Object, Debug)]
pub struct TransactionPage {
    /// The movements of this page.
    items: Vec<TransactionOut>,
    /// The `cursor` of the next page, or null on the last page.
    #[oai(nullable)]
    next_cursor: Nullable<String>,
}

/// The one body of `deposit` and `withdraw`, which differ in the movement they book and the
/// response that says it was booked (`created`: the row, its `Location`, `Idempotent-Replayed`).
async fn book_on_account<R: FromProblem>(
    req: &Request,
    auth: &BearerAuth,
    accounts: &AccountService,
    movement: Movement,
    key: Option<IdempotencyKeyParam>,
    created: fn(Json<TransactionOut>, String, Option<String>) -> R,
) -> R {
    let run = |key| accounts.book_on_account(&auth.0, movement, key);
    reply_keyed(req, key, run, |t, replayed| {
        created(
            Json(TransactionOut::from(&t)),
            transaction_location(&t),
            replayed,
        )
    })
    .await
}

fn transaction_location(t: &Transaction) -> String {
    format!("/accounts/{}/transactions/{}", t.account_id, t.id)
}

responses! {
    /// Responses of `POST /accounts`.
    pub enum AccountsCreate {
        /// The account was opened, empty; `Location` is its URL.
        #[oai(status = 201)]
        Created(Json<AccountOut>, #[oai(header = "Location")] String),
    }
    guarded("`owner_id` is someone else and the caller is not an admin.");
    stores;
    problems {
        422 Unprocessable: "A member is invalid, or no user has `owner_id` (`errors` names each).",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `GET /accounts/{id}`.
    pub enum AccountsGet {
        /// The account.
        #[oai(status = 200)]
        Ok(Json<AccountOut>),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No account has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `GET /accounts/{id}/transactions`.
    pub enum TransactionsList {
        /// A page of the ledger, newest first; `Link` names the next page when there is one.
        #[oai(status = 200)]
        Ok(Json<TransactionPage>, #[oai(header = "Link")] Option<String>),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No account has this id.",
        422 Unprocessable: "The id, `limit` or `cursor` is invalid.",
    }
}

responses! {
    /// Responses of `GET /accounts/{id}/transactions/{tid}`.
    pub enum TransactionsGet {
        /// The movement.
        #[oai(status = 200)]
        Ok(Json<TransactionOut>),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No account has this id, or it has no transaction with this id.",
        422 Unprocessable: "An id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `POST /accounts/{id}/deposits`.
    pub enum DepositsCreate {
        /// The deposit was booked; `Location` is its ledger row. `Idempotent-Replayed: true`
        /// when this repeats the answer to an earlier request with the same key.
        #[oai(status = 201)]
        Created(
            Json<TransactionOut>,
            #[oai(header = "Location")] String,
            #[oai(header = "Idempotent-Replayed")] Option<String>,
        ),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No account has this id.",
        409 Conflict: "A request with this `Idempotency-Key` is still being processed.",
        422 Unprocessable: "The id, the amount or the `Idempotency-Key` is invalid, the key was used with another request, or the balance would overflow.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `POST /accounts/{id}/withdrawals`.
    pub enum WithdrawalsCreate {
        /// The withdrawal was booked; `Location` is its ledger row. `Idempotent-Replayed: true`
        /// when this repeats the answer to an earlier request with the same key.
        #[oai(status = 201)]
        Created(
            Json<TransactionOut>,
            #[oai(header = "Location")] String,
            #[oai(header = "Idempotent-Replayed")] Option<String>,
        ),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    stores;
    problems {
        #[oai(header(name = "Idempotent-Replayed", ty = "Option<String>"))]
        402 InsufficientFunds: "Insufficient Funds: the balance does not cover the amount; `balance` and `required` say by how much.",
        404 NotFound: "No account has this id.",
        409 Conflict: "A request with this `Idempotency-Key` is still being processed.",
        422 Unprocessable: "The id, the amount or the `Idempotency-Key` is invalid, or the key was used with another request.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `GET /accounts/{id}/events`.
    pub enum AccountsEvents {
        /// The account's transactions as Server-Sent Events, from now on (or from the one after
        /// `Last-Event-ID`); a comment every keep-alive interval meanwhile.
        #[oai(status = 200)]
        Ok(EventStream<Booked>),
    }
    guarded("The account is someone else's and the caller is not an admin.");
    problems {
        404 NotFound: "No account has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer, or `Last-Event-ID` is not an event id.",
    }
}

#[OpenApi(tag = "Tag::Accounts")]
impl AccountsApi {
    /// Open an account
    ///
    /// Opens an empty account in a currency (`EUR` by default) for the caller, or, for an
    /// admin, for any user.
    #[oai(path = "/accounts", method = "post", operation_id = "accounts_create")]
    async fn create(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        body: JsonBody<AccountIn>,
    ) -> AccountsCreate {
        let (owner, currency) = body.0;
        let opened = accounts.open(&auth.0, owner, currency).await;

        reply(req, opened, |account| {
            let location = format!("/accounts/{}", account.id);
            AccountsCreate::Created(Json(AccountOut::from(&account)), location)
        })
    }

    /// Get an account
    #[oai(path = "/accounts/:id", method = "get", operation_id = "accounts_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
    ) -> AccountsGet {
        reply(req, accounts.get(&auth.0, id.0.0).await, |account| {
            AccountsGet::Ok(Json(AccountOut::from(&account)))
        })
    }

    /// List an account's transactions
    ///
    /// The ledger, newest first, a page at a time: pass `next_cursor` (or follow `Link`).
    #[oai(
        path = "/accounts/:id/transactions",
        method = "get",
        operation_id = "transactions_list"
    )]
    async fn transactions(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
        /// Most transactions in the page, 1 to 100.
        #[oai(default = "LimitParam::default_value")]
        limit: Query<LimitParam>,
        /// `next_cursor` of the previous page; absent for the first page.
        cursor: Query<Option<IdCursor<TransactionId>>>,
    ) -> TransactionsList {
        let limit = limit.0.0;
        let page = requested(limit, cursor.0);
        reply(
            req,
            accounts.transactions(&auth.0, id.0.0, page).await,
            |page| {
                let next_after = page.next_after.map(TransactionId::get);
                let (next_cursor, link) = next_page(req, limit, next_after);
                let items = page.items.iter().map(TransactionOut::from).collect();
                let next_cursor = Nullable(next_cursor);
                TransactionsList::Ok(Json(TransactionPage { items, next_cursor }), link)
            },
        )
    }

    /// Get a transaction
    #[oai(
        path = "/accounts/:id/transactions/:tid",
        method = "get",
        operation_id = "transactions_get"
    )]
    async fn transaction(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
        /// The transaction's id.
        tid: Path<Id<TransactionId>>,
    ) -> TransactionsGet {
        let found = accounts.transaction(&auth.0, id.0.0, tid.0.0).await;
        reply(req, found, |t| {
            TransactionsGet::Ok(Json(TransactionOut::from(&t)))
        })
    }

    /// Follow an account's ledger
    ///
    /// Server-Sent Events: every transaction booked on the account from now on (deposits,
    /// withdrawals, transfers in and out), each with the balance after it, as it is booked on
    /// any instance. A client that reconnects sends the last `id:` it got (a transaction id) as
    /// `Last-Event-ID` and gets every transaction booked since, from the ledger. The stream
    /// does not end by itself.
    #[oai(
        path = "/accounts/:id/events",
        method = "get",
        operation_id = "accounts_events"
    )]
    async fn events(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
        /// The `id` of the last event received: the stream resumes after that transaction.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<LastEventId>>,
    ) -> AccountsEvents {
        let after = last_event_id.0.map(|id| id.0);
        let follow = accounts.follow(&auth.0, id.0.0, after);
        reply_following(req, follow, AccountsEvents::Ok).await
    }

    /// Deposit money
    ///
    /// Pays `amount` into the account. With an `Idempotency-Key`, a repeat of the same request
    /// answers the first response again and pays nothing in.
    #[oai(
        path = "/accounts/:id/deposits",
        method = "post",
        operation_id = "deposits_create"
    )]
    async fn deposit(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
        /// Makes retries safe: 1 to 255 printable ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        key: Header<Option<IdempotencyKeyParam>>,
        body: JsonBody<AmountIn>,
    ) -> DepositsCreate {
        let movement = Movement::Deposit(id.0.0, body.0);
        book_on_account(
            req,
            &auth,
            &accounts,
            movement,
            key.0,
            DepositsCreate::Created,
        )
        .await
    }

    /// Withdraw money
    ///
    /// Pays `amount` out of the account if the balance covers it; otherwise 402 with the
    /// balance and the amount. With an `Idempotency-Key`, a repeat of the same request answers
    /// the first response again and pays nothing out.
    #[oai(
        path = "/accounts/:id/withdrawals",
        method = "post",
        operation_id = "withdrawals_create"
    )]
    async fn withdraw(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// The account's id.
        id: Path<Id<AccountId>>,
        /// Makes retries safe: 1 to 255 printable ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        key: Header<Option<IdempotencyKeyParam>>,
        body: JsonBody<AmountIn>,
    ) -> WithdrawalsCreate {
        let movement = Movement::Withdrawal(id.0.0, body.0);
        book_on_account(
            req,
            &auth,
            &accounts,
            movement,
            key.0,
            WithdrawalsCreate::Created,
        )
        .await
    }
}

#[cfg(test)]
mod tests;
