//! Transfers between accounts: `POST /transfers`.

use crate::state::State;
use crate::{
    auth::BearerAuth,
    body::{JsonBody, Members, RequestModel},
    json_types::Timestamp,
    params::IdempotencyKeyParam,
    responses,
    responses::reply_keyed,
    tags::Tag,
};
use domain::{
    accounts::{AccountId, AccountService, Transfer},
    money::Amount,
};
use poem::Request;
use poem_openapi::{Object, OpenApi, param::Header, payload::Json};

/// The transfers operations.
#[derive(Default)]
pub struct TransfersApi;

/// A transfer to make.
#[derive(Object, Debug)]
pub struct TransferIn {
    /// The caller's account the money leaves (any account for an admin).
    #[oai(validator(minimum(value = "1")))]
    from_account_id: i64,
    /// The account the money goes to: another account, in the same currency.
    #[oai(validator(minimum(value = "1")))]
    to_account_id: i64,
    /// Minor units (cents), 1 to 1 000 000 000 000.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    amount: i64,
}

impl RequestModel for TransferIn {
    /// The source account, the target account and the amount.
    type Parsed = (AccountId, AccountId, Amount);

    fn read(members: &mut Members<'_>) -> Option<Self::Parsed> {
        let from = members.required("from_account_id", AccountId::parse);
        let to = members.required("to_account_id", AccountId::parse);
        let amount = members.required("amount", Amount::parse);
        Some((from?, to?, amount?))
    }
}

/// A transfer made.
#[derive(Object, Debug)]
pub struct TransferOut {
    /// The transfer's id.
    id: i64,
    /// The account the money left.
    from_account_id: i64,
    /// The account the money went to.
    to_account_id: i64,
    /// How much, in minor units.
    amount: i64,
    /// When.
    created_at: Timestamp,
}

impl From<&Transfer> for TransferOut {
    fn from(t: &Transfer) -> Self {
        Self {
            id: t.id.get(),
            from_account_id: t.from_account_id.get(),
            to_account_id: t.to_account_id.get(),
            amount: t.amount.get(),
            created_at: Timestamp(t.created_at),
        }
    }
}

responses! {
    /// Responses of `POST /transfers`.
    pub enum TransfersCreate {
        /// The transfer was booked (a `transfer_out` row on the source account, a
        /// `transfer_in` row on the target). `Idempotent-Replayed: true` when this repeats the
        /// answer to an earlier request with the same key.
        #[oai(status = 201)]
        Created(
            Json<TransferOut>,
            #[oai(header = "Idempotent-Replayed")] Option<String>,
        ),
    }
    guarded("The source account is someone else's and the caller is not an admin.");
    stores;
    problems {
        #[oai(header(name = "Idempotent-Replayed", ty = "Option<String>"))]
        402 InsufficientFunds: "Insufficient Funds: the source balance does not cover the amount; `balance` and `required` say by how much.",
        404 NotFound: "No account has one of the ids.",
        409 Conflict: "A request with this `Idempotency-Key` is still being processed.",
        422 Unprocessable: "A member is invalid, the accounts are the same or differ in currency, or the `Idempotency-Key` is invalid or was used with another request.",
    }
    json_body("The body is not sent as `application/json`.");
}

#[OpenApi(tag = "Tag::Transfers")]
impl TransfersApi {
    /// Transfer money
    ///
    /// Moves `amount` from one of the caller's accounts to another account of the same
    /// currency, in one step: either both balances change or neither. With an
    /// `Idempotency-Key`, a repeat of the same request answers the first response again and
    /// moves nothing.
    #[oai(
        path = "/transfers",
        method = "post",
        operation_id = "transfers_create"
    )]
    async fn create(
        &self,
        auth: BearerAuth,
        req: &Request,
        accounts: State<'_, AccountService>,
        /// Makes retries safe: 1 to 255 printable ASCII characters, unique per request.
        #[oai(name = "Idempotency-Key")]
        key: Header<Option<IdempotencyKeyParam>>,
        body: JsonBody<TransferIn>,
    ) -> TransfersCreate {
        let (from, to, amount) = body.0;
        let run = |key| accounts.transfer(&auth.0, from, to, amount, key);
        reply_keyed(req, key.0, run, |t, replayed| {
            TransfersCreate::Created(Json(TransferOut::from(&t)), replayed)
        })
        .await
    }
}
